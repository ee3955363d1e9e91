/** The catalog refused a ledger operation because an invariant would break; nothing was changed. */
export class LedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerError';
  }
}

/**
 * Some blocks are being deleted by GC right now: uploading them again must wait until the delete finished,
 * or the delete could remove the new copy. Retry later.
 */
export class BlocksBeingDeletedError extends Error {
  constructor(
    readonly region: string,
    readonly count: number,
  ) {
    super(`${count} block(s) in region ${region} are being deleted by GC; retry after the delete completes`);
    this.name = 'BlocksBeingDeletedError';
  }
}

/** A worker claimed blocks for a snapshot that is no longer uploading (it failed or was deleted): drop the work. */
export class SnapshotNotUploadingError extends Error {
  constructor(
    readonly snapshotId: string,
    readonly status: string | undefined,
  ) {
    super(`snapshot ${snapshotId} is ${status ?? 'gone'}, no longer uploading: its blocks are not claimed`);
    this.name = 'SnapshotNotUploadingError';
  }
}
