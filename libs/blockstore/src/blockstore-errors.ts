/** A block or manifest read back from Swift is not what island wrote: never used, never written on. */
export class CorruptObjectError extends Error {
  constructor(
    readonly object: string,
    readonly problem: string,
  ) {
    super(`${object}: ${problem}`);
    this.name = 'CorruptObjectError';
  }
}
