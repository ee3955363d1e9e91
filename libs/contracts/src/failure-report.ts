import { ContractDefinition } from './contract';
import { OperationFailedEvent } from './events/events';

const MAX_REASON = 2000;

/**
 * The report of a job's final failure, from its contract's failure policy: what it ends, on which resource,
 * with the reason (trimmed to what the event carries). null: the job's failure ends nothing.
 */
export function failureReport<P extends object>(contract: ContractDefinition<string, P>, payload: P, reason: string): OperationFailedEvent | null {
  const policy = contract.onFailure;
  if (!policy?.ends) return null;
  const host = (payload as { host?: unknown }).host;
  const operationId = policy.operationId?.(payload);
  return {
    job: contract.name,
    ends: policy.ends,
    resourceId: policy.resourceId(payload),
    ...(operationId && { operationId }),
    reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason,
    ...(typeof host === 'string' && { host }),
  };
}
