import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';

/**
 * What the final failure of a job ends (the API ends it, with the failure's reason): one snapshot, the
 * snapshots of a group, a committed snapshot's manifest write (the snapshot stays committed and the manifest is
 * asked for again), the operation a volume is in (attach, detach, extend, revert, delete), or an operator's
 * operation on a region (GC run, fsck, rebuild).
 */
export const FAILURE_SCOPES = ['snapshot', 'snapshot-group', 'snapshot-manifest', 'volume-operation', 'region-operation'] as const;
export type FailureScope = (typeof FAILURE_SCOPES)[number];

/** A job's failure policy: what its final failure ends and which resource that is. */
export interface FailurePolicy<Payload> {
  /** null: housekeeping whose failure ends nothing (it is done again later). */
  readonly ends: FailureScope | null;
  /** The snapshot, the volume (or, for a group, its first snapshot) or the region operation. */
  resourceId(payload: Payload): string;
  operationId?(payload: Payload): string | undefined;
}

/** The job is a step of its snapshot: its final failure fails the snapshot. */
export const endsSnapshot = <P extends { snapshotId: string }>(): FailurePolicy<P> => ({ ends: 'snapshot', resourceId: (p) => p.snapshotId });

/** The job is a step of the operation its volume is in. */
export const endsVolumeOperation = <P extends { volumeId: string; operationId?: string }>(): FailurePolicy<P> => ({
  ends: 'volume-operation',
  resourceId: (p) => p.volumeId,
  operationId: (p) => p.operationId,
});

/** The island services that consume messages. */
export type ServiceName = 'api' | 'node-agent' | 'snapshot-worker' | 'gc-worker';

/**
 * One message island sends: its name and version, which service handles it, its payload schema
 * (a class-validator class) and how it is routed. Jobs ask for work; events report what happened.
 */
export interface ContractDefinition<Name extends string = string, Payload extends object = object> {
  readonly name: Name;
  readonly version: number;
  readonly kind: 'job' | 'event';
  readonly consumer: ServiceName;
  readonly schema: new () => Payload;
  /** Routing key on the `island` topic exchange; host-scoped work carries the host in its key. */
  routingKey(payload: Payload): string;
  /** Jobs only: what their final failure ends. */
  readonly onFailure?: FailurePolicy<Payload>;
}

export function defineContract<Name extends string, Payload extends object>(definition: ContractDefinition<Name, Payload>): ContractDefinition<Name, Payload> {
  return definition;
}

/** A contract's identity on the wire (with the headers' name and version), in logs, metrics and dead letters. */
export function contractKey(contract: { name: string; version: number | string }): string {
  return `${contract.name}.v${contract.version}`;
}

/** A message that does not match its contract: never handled, dead-lettered with these problems. */
export class ContractViolationError extends Error {
  constructor(
    readonly contract: string,
    readonly problems: string[],
  ) {
    super(`${contract}: ${problems.join('; ')}`);
    this.name = 'ContractViolationError';
  }
}

/** Validates an untrusted payload against its contract; returns the typed payload or throws. */
export function parsePayload<P extends object>(contract: ContractDefinition<string, P>, raw: unknown): P {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ContractViolationError(contractKey(contract), ['payload must be a JSON object']);
  }
  const payload = plainToInstance(contract.schema, raw);
  const errors = validateSync(payload, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    throw new ContractViolationError(
      contractKey(contract),
      errors.flatMap((e) => flatten(e)),
    );
  }
  return payload;
}

function flatten(error: ValidationError, path = ''): string[] {
  const name = path ? `${path}.${error.property}` : error.property;
  const own = Object.values(error.constraints ?? {}).map((m) => `${name}: ${m}`);
  return [...own, ...(error.children ?? []).flatMap((c) => flatten(c, name))];
}
