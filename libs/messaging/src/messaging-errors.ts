/** Thrown by a handler when a message can never succeed: it is dead-lettered at once, with this reason. */
export class PermanentMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentMessageError';
  }
}

/**
 * Whether a handler's failure is one a retry cannot fix, decided here for every service: a
 * PermanentMessageError, an error that says so (`permanent: true`: a refused qcow2 image, a missing Swift
 * object, a corrupt one read twice, a path outside the data directory, a command QEMU refuses), a missing
 * file, or a full disk. Everything else (Swift 5xx, a lost connection, a busy image) is retried with delays.
 */
export function isPermanentFailure(error: unknown): boolean {
  if (error instanceof PermanentMessageError) return true;
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { permanent?: unknown }).permanent === true) return true;
  const code = (error as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ENOSPC';
}

/** The service's handlers do not match the contracts it consumes: it must not start. */
export class HandlerSetupError extends Error {
  constructor(service: string, problems: string[]) {
    super(`${service} cannot start: ${problems.join('; ')}`);
    this.name = 'HandlerSetupError';
  }
}

/** Publishing needs a connection; the caller (outbox relay, handler) retries later. */
export class BrokerUnavailableError extends Error {
  constructor(detail: string) {
    super(`RabbitMQ is not available: ${detail}`);
    this.name = 'BrokerUnavailableError';
  }
}
