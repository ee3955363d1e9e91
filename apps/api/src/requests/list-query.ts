import { PageRequest } from '@island/catalog';
import { InvalidRequestError } from '../errors/domain-errors';
import { isUuid } from './visible-resources';

/** A list answers at most this many items a page (Cinder's default `osapi_max_limit`), and this many when not told. */
export const LIST_MAX_LIMIT = 1000;

/** A whole number from a query string, within bounds; undefined when not given. */
export function integerParam(what: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidRequestError(`${what} must be an integer from ${min} to ${max}, not "${value}"`);
  return n;
}

/** `marker` and `limit` of a list's query: the previous page's last id (a UUID) and how many to answer. */
export function pageRequest(resource: 'volume' | 'snapshot', query: { marker?: string; limit?: string }): PageRequest {
  const limit = integerParam('limit', query.limit, 1, LIST_MAX_LIMIT) ?? LIST_MAX_LIMIT;
  if (query.marker !== undefined && !isUuid(query.marker)) {
    throw new InvalidRequestError(`marker must be a ${resource} id (the previous page's nextMarker), not "${query.marker}"`);
  }
  return { marker: query.marker, limit };
}

/** The catalog found no row of the caller's for a page's marker: said as such, whether it is another project's or none. */
export function unknownMarker(resource: 'volume' | 'snapshot', marker: string | undefined, where = 'of this project'): InvalidRequestError {
  return new InvalidRequestError(`marker ${String(marker)} is not a ${resource} ${where} (pass the previous page's nextMarker)`);
}
