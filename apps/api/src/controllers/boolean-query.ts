import { InvalidRequestError } from '../errors/domain-errors';

/** A `?name=true|false` query parameter: absent is false; anything else is a 400 naming it. */
export function booleanQuery(name: string, value: string | undefined): boolean {
  if (value !== undefined && value !== 'true' && value !== 'false')
    throw new InvalidRequestError(`${name} must be true or false, not ${JSON.stringify(value)}`);
  return value === 'true';
}
