import { RemoteFailure } from '@island/oslo-rpc';
import { ConflictError, DomainError, ForbiddenError, InvalidRequestError, NotFoundError, QuotaExceededError } from '../errors/domain-errors';

const CINDER = 'cinder.exception';

/** Exceptions of Cinder's `cinder.exception`, with the kwargs Cinder's own classes take. */
export const cinderErrors = {
  volumeNotFound: (id: string) => new RemoteFailure('VolumeNotFound', CINDER, `Volume ${id} could not be found.`, { volume_id: id }),
  snapshotNotFound: (id: string) => new RemoteFailure('SnapshotNotFound', CINDER, `Snapshot ${id} could not be found.`, { snapshot_id: id }),
  invalidInput: (reason: string) => new RemoteFailure('InvalidInput', CINDER, `Invalid input received: ${reason}`, { reason }),
  invalidVolume: (reason: string) => new RemoteFailure('InvalidVolume', CINDER, `Invalid volume: ${reason}`, { reason }),
  invalidSnapshot: (reason: string) => new RemoteFailure('InvalidSnapshot', CINDER, `Invalid snapshot: ${reason}`, { reason }),
  notAuthorized: () => new RemoteFailure('NotAuthorized', CINDER, 'Not authorized.', {}),
  volumeLimitExceeded: (allowed: number) =>
    new RemoteFailure('VolumeLimitExceeded', CINDER, `Maximum number of volumes allowed (${allowed}) exceeded.`, { allowed }),
  snapshotLimitExceeded: (allowed: number) =>
    new RemoteFailure('SnapshotLimitExceeded', CINDER, `Maximum number of snapshots allowed (${allowed}) exceeded.`, { allowed }),
  sizeExceedsQuota: (requested: number, consumed: number, quota: number) =>
    new RemoteFailure(
      'VolumeSizeExceedsAvailableQuota',
      CINDER,
      `Requested volume or snapshot exceeds allowed gigabytes quota. Requested ${requested}G, quota is ${quota}G and ${consumed}G has been consumed.`,
      {
        requested,
        consumed,
        quota,
      },
    ),
  backend: (data: string) =>
    new RemoteFailure('VolumeBackendAPIException', CINDER, `Bad or unexpected response from the storage volume backend API: ${data}`, { data }),
};

/** Python's own complaint about keyword arguments a method does not take or needs. */
export function typeError(message: string): RemoteFailure {
  return new RemoteFailure('TypeError', 'builtins', message);
}

/**
 * The Cinder exception for what island refused: not found by resource, bad input, a state that forbids
 * the operation (about a snapshot or a volume), anything else as a backend failure.
 */
export function toCinderFailure(error: unknown, method: string): RemoteFailure {
  if (error instanceof RemoteFailure) return error;
  if (error instanceof NotFoundError) {
    if (error.resource === 'volume') return cinderErrors.volumeNotFound(error.id);
    if (error.resource === 'snapshot') return cinderErrors.snapshotNotFound(error.id);
    return cinderErrors.invalidInput(error.message);
  }
  if (error instanceof InvalidRequestError) return cinderErrors.invalidInput(error.message);
  if (error instanceof QuotaExceededError) {
    if (error.resource === 'volumes') return cinderErrors.volumeLimitExceeded(error.limit);
    if (error.resource === 'snapshots') return cinderErrors.snapshotLimitExceeded(error.limit);
    return cinderErrors.sizeExceedsQuota(error.requested, error.used, error.limit);
  }
  if (error instanceof ForbiddenError) return cinderErrors.notAuthorized();
  if (error instanceof ConflictError) {
    return /snapshot/.test(method) && method !== 'create_volume_from_snapshot'
      ? cinderErrors.invalidSnapshot(error.message)
      : cinderErrors.invalidVolume(error.message);
  }
  const message = error instanceof DomainError || error instanceof Error ? error.message : String(error);
  return cinderErrors.backend(message);
}
