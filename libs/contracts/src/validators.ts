import { IsArray, IsInt, IsString, Matches, Max, Min, ValidateBy, ValidationOptions } from 'class-validator';

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
const SHA256_HEX = /^[0-9a-f]{64}$/;
export const IsSha256Hex = pattern(SHA256_HEX, 'a SHA-256 in hex');
export const IsByteCount = () => applyDecorators(IsInt(), Min(0), Max(Number.MAX_SAFE_INTEGER));
export const IsCount = () => applyDecorators(IsInt(), Min(0), Max(2 ** 31));
export const IsBlockSize = () => applyDecorators(IsInt(), Min(4096), Max(64 * 1024 * 1024));
export const IsBlockIndexList = () => applyDecorators(IsArray(), IsInt({ each: true }), Min(0, { each: true }));

/**
 * At most `max` blocks, each exactly `{ index, hash }`: checked in one pass. As nested classes (ValidateNested), the
 * 128 blocks of a part cost the API 1.6 ms a part warm and ~15 ms while its code is cold: class-validator looks up each
 * element's rules among every validated class of the process.
 */
export function IsPartBlockList(max: number): PropertyDecorator {
  return ValidateBy({
    name: 'isPartBlockList',
    validator: {
      validate: (value: unknown) => partBlockListProblem(value, max) === undefined,
      defaultMessage: (args) => `$property${partBlockListProblem(args?.value, max) ?? ''}`,
    },
  });
}

/** What is wrong with a part's block list, naming the first bad element; undefined when nothing is. */
function partBlockListProblem(value: unknown, max: number): string | undefined {
  if (!Array.isArray(value)) return ' must be an array';
  if (value.length > max) return ` must hold at most ${max} blocks, not ${value.length}`;
  for (let i = 0; i < value.length; i++) {
    const block: unknown = value[i];
    if (typeof block !== 'object' || block === null || Array.isArray(block)) return `[${i}] must be an object`;
    const { index, hash } = block as Record<string, unknown>;
    if (!Number.isSafeInteger(index) || (index as number) < 0) return `[${i}].index must be a non-negative integer`;
    if (hash !== null && !(typeof hash === 'string' && SHA256_HEX.test(hash))) return `[${i}].hash must be a SHA-256 in hex or null`;
    for (const key of Object.keys(block)) if (key !== 'index' && key !== 'hash') return `[${i}].${key} should not exist`;
  }
  return undefined;
}
