import type { QuotaResource } from '@island/catalog';

/**
 * Errors services throw; mapped to HTTP by DomainErrorFilter and to Cinder exceptions by the RPC endpoint,
 * so services never speak either protocol.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: 'not-found' | 'conflict' | 'invalid' | 'forbidden' | 'over-quota';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends DomainError {
  readonly kind = 'not-found' as const;
  constructor(
    readonly resource: 'volume' | 'snapshot' | 'host' | 'region' | 'job' | 'operation' | 'dead-letter' | 'project' | 'project key',
    readonly id: string,
  ) {
    super(`${resource} ${id} not found`);
  }
}

/** The resource exists but its state forbids the operation now (retry later, or never). */
export class ConflictError extends DomainError {
  readonly kind = 'conflict' as const;
}

export class InvalidRequestError extends DomainError {
  readonly kind = 'invalid' as const;
}

export class ForbiddenError extends DomainError {
  readonly kind = 'forbidden' as const;
}

export type { QuotaResource };

/** The request would take the project over one of its limits. */
export class QuotaExceededError extends DomainError {
  readonly kind = 'over-quota' as const;
  constructor(
    readonly resource: QuotaResource,
    readonly limit: number,
    readonly used: number,
    readonly requested: number,
    project: string,
  ) {
    super(`quota exceeded: project ${project} may have ${limit} ${resource}, has ${used}, this request needs ${requested} more`);
  }
}
