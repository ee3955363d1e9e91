/** Every failure of a Swift call names the operation, the object (or container/account) and the status. */
export class SwiftError extends Error {
  constructor(
    readonly operation: string,
    readonly target: string,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`Swift ${operation} ${target}${status === undefined ? '' : ` → ${status}`}: ${detail}`);
    this.name = new.target.name;
  }
}

/** 404: the object or container does not exist. */
export class SwiftNotFoundError extends SwiftError {
  readonly permanent = true;
}

/** 412 on a write-once PUT (`If-None-Match: *`): the object already exists and was left untouched. */
export class SwiftObjectExistsError extends SwiftError {}

/** 409: e.g. deleting a container that still holds objects. */
export class SwiftConflictError extends SwiftError {}

/** The bytes Swift stored or returned do not match their MD5 (422 from Swift, or our own check). */
export class SwiftChecksumError extends SwiftError {}

/** Authentication failed (wrong credentials, or a token refused again right after re-authenticating). */
export class SwiftAuthError extends SwiftError {}

/** Any other 4xx: the request is wrong and retrying cannot help. */
export class SwiftRequestError extends SwiftError {}

/** 5xx, a reset connection or a timeout that outlasted every retry. */
export class SwiftUnavailableError extends SwiftError {}

/** Swift answered 2xx with a body we cannot use (bad JSON, missing fields, per-item bulk failures). */
export class SwiftProtocolError extends SwiftError {}
