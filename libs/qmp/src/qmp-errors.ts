/** QEMU refused a command: its error class (e.g. GenericError, DeviceNotFound) and description. */
export class QmpCommandError extends Error {
  /** QEMU refuses the same command again (e.g. growing an image that has internal snapshots). */
  readonly permanent = true;
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly description: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${description}`);
    this.name = 'QmpCommandError';
  }
}

/** The monitor did not answer in time, closed, or spoke something that is not QMP. */
export class QmpConnectionError extends Error {
  constructor(
    readonly socketPath: string,
    problem: string,
  ) {
    super(`QMP monitor at ${socketPath}: ${problem}`);
    this.name = 'QmpConnectionError';
  }
}
