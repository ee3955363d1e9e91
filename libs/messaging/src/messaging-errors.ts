/** Thrown by a handler when a message can never succeed: it is dead-lettered at once, with this reason. */
export class PermanentMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentMessageError';
  }
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
