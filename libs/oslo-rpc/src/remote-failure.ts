/**
 * An exception as an oslo.messaging client rebuilds it: `module.class(*args, **kwargs)`. A client raises it
 * by class when `module` is `builtins` or in its allowed_remote_exmods (Cinder allows `cinder.exception`);
 * otherwise it raises oslo_messaging.RemoteError naming the class.
 */
export class RemoteFailure extends Error {
  constructor(
    readonly className: string,
    readonly module: string,
    message: string,
    readonly kwargs: Record<string, unknown> = {},
    readonly args: unknown[] = [message],
  ) {
    super(message);
    this.name = `${module}.${className}`;
  }
}

/** What oslo's dispatcher raises for a method no compatible endpoint has. */
export function noSuchMethod(method: string): RemoteFailure {
  return new RemoteFailure('NoSuchMethod', 'oslo_messaging.rpc.dispatcher', `Endpoint does not support RPC method ${method}`, {}, [method]);
}

/** What oslo's dispatcher raises when no endpoint speaks the requested version (or namespace). */
export function unsupportedVersion(version: string, method: string): RemoteFailure {
  return new RemoteFailure(
    'UnsupportedVersion',
    'oslo_messaging.rpc.dispatcher',
    `Endpoint does not support RPC version ${version}. Attempted method: ${method}`,
    { method },
    [version],
  );
}

/** The `failure` field of a reply: a JSON *string* of the exception, with a traceback as a list of lines. */
export function serializeFailure(failure: RemoteFailure): string {
  return JSON.stringify({
    class: failure.className,
    module: failure.module,
    message: failure.message,
    tb: [`${failure.module}.${failure.className}: ${failure.message}\n`],
    args: failure.args,
    kwargs: failure.kwargs,
  });
}
