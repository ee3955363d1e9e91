import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, validateSync, ValidationError } from 'class-validator';
import { cinderErrors, typeError } from './cinder-errors';

/** The fields island reads of Cinder's volume dict (Cinder sends many more; they are ignored). */
export class CinderVolume {
  @IsUUID() id!: string;
  /** GiB, as Cinder counts. */
  @IsInt() @Min(1) @Max(65536) size!: number;
  @IsOptional() @IsString() @MaxLength(255) project_id?: string;
  @IsOptional() @IsString() @MaxLength(255) display_name?: string | null;
  @IsOptional() @IsString() @MaxLength(255) name?: string;
}

export class CinderSnapshot {
  @IsUUID() id!: string;
  @IsUUID() volume_id!: string;
  @IsOptional() @IsInt() @Min(1) @Max(65536) volume_size?: number;
  @IsOptional() @IsString() @MaxLength(255) project_id?: string;
  @IsOptional() @IsString() @MaxLength(255) display_name?: string | null;
  @IsOptional() @IsString() @MaxLength(255) name?: string;
}

export const CINDER_CONNECTIONS = ['block', 'raw', 'nbd', 'file'] as const;
export type CinderConnectionKind = (typeof CINDER_CONNECTIONS)[number];

/** os-brick's connector properties; island needs the host the volume is attached on. */
export class CinderConnector {
  /**
   * os-brick sends the full host name (cinder-backup: socket.gethostname()); island names a host by its first
   * label (ISLAND_HOST's default), so a domain is dropped.
   */
  @Transform(({ value }) => (typeof value === 'string' ? value.split('.')[0] : value))
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, { message: 'host must be a host name' })
  host!: string;
  /**
   * island's own connector property, how the host serves the volume: 'block' (default), a loop block device
   * over 'raw', a file showing the volume's bytes served by the host's storage daemon; 'nbd', an NBD export of
   * that daemon; 'file', the qcow2 image itself (no live snapshots while a guest holds it).
   */
  @IsOptional() @IsIn(CINDER_CONNECTIONS, { message: "island_export must be 'block', 'raw', 'nbd' or 'file'" }) island_export?: CinderConnectionKind;
}

/**
 * Checks a call's keyword arguments the way Python checks a method's signature: unknown ones and missing
 * required ones are TypeErrors; `extra` accepts anything else (**kwargs).
 */
export function checkKwargs(method: string, args: Record<string, unknown>, required: string[], optional: string[] = [], extra = false): void {
  const missing = required.filter((name) => args[name] === undefined);
  if (missing.length > 0) {
    throw typeError(`${method}() missing ${missing.length} required argument(s): ${missing.map((n) => `'${n}'`).join(', ')}`);
  }
  if (extra) return;
  const unknown = Object.keys(args).find((name) => !required.includes(name) && !optional.includes(name));
  if (unknown) throw typeError(`${method}() got an unexpected keyword argument '${unknown}'`);
}

/** Validates a Cinder dict argument; anything wrong is InvalidInput naming the argument and the field. */
export function parseArg<T extends object>(schema: new () => T, value: unknown, name: string): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw cinderErrors.invalidInput(`${name} must be an object, not ${String(JSON.stringify(value)).slice(0, 80)}`);
  }
  // Cinder objects arrive as oslo.versionedobjects primitives when a driver forwards them unconverted
  const plain = 'versioned_object.data' in value ? (value as Record<string, unknown>)['versioned_object.data'] : value;
  const instance = plainToInstance(schema, plain);
  const errors = validateSync(instance, { forbidUnknownValues: false });
  if (errors.length > 0) throw cinderErrors.invalidInput(`${name}: ${describe(errors)}`);
  return instance;
}

function describe(errors: ValidationError[]): string {
  return errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; ');
}
