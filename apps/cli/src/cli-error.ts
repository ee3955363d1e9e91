/** An expected failure: printed as one line on stderr, no stack trace, with its own exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The API could not be asked (not listening, restarting, 502/503/504): a wait may ask again. */
export class ApiUnavailableError extends CliError {}
