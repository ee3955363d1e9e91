import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, validateSync, ValidationError } from 'class-validator';
import { RpcMethod } from '@island/oslo-rpc';
import { Caller } from '../auth/caller';
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

/** Reads one keyword argument: its typed value, or the exception Cinder sees (InvalidInput naming the argument). */
export type Kwarg<T> = (value: unknown, name: string) => T;

/** A Cinder dict, validated against its class. */
export const dict =
  <T extends object>(schema: new () => T): Kwarg<T> =>
  (value, name) =>
    parseArg(schema, value, name);

/** A size in GiB, a whole number from 1 (extend_volume's new_size). */
export const wholeGib: Kwarg<number> = (value, name) => {
  if (!Number.isInteger(value) || (value as number) < 1) throw cinderErrors.invalidInput(`${name} must be a whole number of GiB, not ${JSON.stringify(value)}`);
  return value as number;
};

/** An argument the method accepts and island does not read (get_volume_stats' refresh, a detach's connector). */
export const unread: Kwarg<unknown> = (value) => value;

type Kwargs = Record<string, Kwarg<unknown>>;
type Parsed<K extends Kwargs> = { [N in keyof K]: ReturnType<K[N]> };
/** The arguments that are a resource of a project (a volume or snapshot dict): the call may act as its owner. */
type Owned<R extends Kwargs> = { [N in keyof R]: ReturnType<R[N]> extends { id: string; project_id?: string } ? N : never }[keyof R] & string;

/**
 * One method of the Cinder endpoint as Python's signature and island's rules declare it: its required and
 * optional keyword arguments and how each is read, whether it takes any other (`**kwargs`), whose project it
 * acts as, and its logic, which gets the arguments read and typed and, when it acts as a project, the caller.
 */
export interface CinderMethod<R extends Kwargs, O extends Kwargs, A extends Owned<R> | undefined> {
  required: R;
  optional?: O;
  /** Takes any other keyword argument too: os-brick's connector calls pass more than island reads. */
  anyOther?: boolean;
  /** The argument whose owner the call acts as (else the request context's project); none: no caller. */
  actingAs?: A;
  /** A function type, not a method: checked strictly, so it cannot ask for more than the arguments declared. */
  run: (args: Parsed<R> & Partial<Parsed<O>>, caller: A extends string ? Caller : undefined) => Promise<unknown>;
}

/** How a table entry is served: as the RPC method of that name, its logic bound to the endpoint. */
export type DeclaredMethod = (name: string, self: object) => RpcMethod;

/** A table entry, typed: `run` must take what `required` and `optional` read, and a caller only with `actingAs`. */
export function cinderMethod<R extends Kwargs, O extends Kwargs = Record<never, never>, A extends Owned<R> | undefined = undefined>(
  method: CinderMethod<R, O, A>,
): DeclaredMethod {
  return (name, self) => toRpcMethod(name, method, self);
}

const PROJECT_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The RPC method a table entry declares: checks the keyword arguments as Python would (TypeError), reads each
 * in order (InvalidInput), makes the caller, then runs the logic bound to `self`.
 */
function toRpcMethod<R extends Kwargs, O extends Kwargs, A extends Owned<R> | undefined>(name: string, method: CinderMethod<R, O, A>, self: object): RpcMethod {
  const required = Object.keys(method.required);
  const optional = Object.keys(method.optional ?? {});
  const run = method.run.bind(self);
  return async (context, kwargs) => {
    checkKwargs(name, kwargs, required, optional, method.anyOther ?? false);
    const args: Record<string, unknown> = {};
    for (const [arg, read] of Object.entries<Kwarg<unknown>>(method.required)) args[arg] = read(kwargs[arg], arg);
    for (const [arg, read] of Object.entries<Kwarg<unknown>>(method.optional ?? {})) if (kwargs[arg] !== undefined) args[arg] = read(kwargs[arg], arg);
    const parsed = args as Parsed<R> & Partial<Parsed<O>>;
    const caller = method.actingAs === undefined ? undefined : callerFor(context, (parsed[method.actingAs] as { project_id?: string }).project_id);
    return run(parsed, caller as A extends string ? Caller : undefined);
  };
}

/** Acts as the project that owns the resource (Cinder's dict says), else the request context's project. */
function callerFor(context: Record<string, unknown>, projectId: string | undefined): Caller {
  const project = projectId ?? (typeof context.project_id === 'string' ? context.project_id : undefined);
  if (!project) throw cinderErrors.invalidInput('no project: neither the resource nor the request context names one');
  // the same project names REST accepts (a Keystone project id is 32 hex digits)
  if (!PROJECT_ID.test(project))
    throw cinderErrors.invalidInput(`project_id must be 1 to 64 letters, digits, '.', '_' or '-', not ${JSON.stringify(project.slice(0, 80))}`);
  return { projectId: project, admin: false, scope: project, readOnly: false };
}
