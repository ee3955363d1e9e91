/** A block or manifest read back from Swift is not what island wrote: never used, never written on. */
export class CorruptObjectError extends Error {
  /** Read again already (a body corrupted in transit): what is stored is wrong. */
  readonly permanent = true;
  constructor(
    readonly object: string,
    readonly problem: string,
  ) {
    super(`${object}: ${problem}`);
    this.name = 'CorruptObjectError';
  }
}
