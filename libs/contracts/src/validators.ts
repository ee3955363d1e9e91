import { IsArray, IsInt, IsString, Matches, Max, Min, ValidationOptions } from 'class-validator';

function applyDecorators(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => decorators.forEach((d) => d(target, key));
}

const pattern =
  (regex: RegExp, what: string) =>
  (options: ValidationOptions = {}) =>
    applyDecorators(IsString(options), Matches(regex, { ...options, message: `$property must be ${what}` }));

/** Shared field rules, so every contract checks ids, names and sizes the same way. */
export const IsResourceId = pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a UUID');
export const IsHostName = pattern(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'a host name');
export const IsRegionName = pattern(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'a region name');
export const IsAbsolutePath = pattern(/^\/[^\0]*$/, 'an absolute path');
/** Internal qcow2 snapshot names island uses for points in time. */
export const IsPointInTime = pattern(/^island-[A-Za-z0-9_-]{1,64}$/, 'an island point-in-time name');
export const IsSha256Hex = pattern(/^[0-9a-f]{64}$/, 'a SHA-256 in hex');
export const IsByteCount = () => applyDecorators(IsInt(), Min(0), Max(Number.MAX_SAFE_INTEGER));
export const IsCount = () => applyDecorators(IsInt(), Min(0), Max(2 ** 31));
export const IsBlockSize = () => applyDecorators(IsInt(), Min(4096), Max(64 * 1024 * 1024));
export const IsBlockIndexList = () => applyDecorators(IsArray(), IsInt({ each: true }), Min(0, { each: true }));
