import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/**
 * A VM's disk client for tests: Debian's qemu-io on a raw disk — an NBD export (nbd+unix://…) or the file of a
 * FUSE export — driven one command at a time; a write resolves when qemu-io reports it done, i.e. when the
 * storage daemon acknowledged it.
 */
export class GuestWriter {
  private readonly child: ChildProcessWithoutNullStreams;
  private output = '';
  private waiting?: { pattern: RegExp; resolve: (line: string) => void; reject: (error: Error) => void };
  private exited?: string;

  /** `target`: an NBD URI or a file path. */
  constructor(readonly target: string) {
    this.child = spawn('qemu-io', ['-f', 'raw', target], { stdio: ['pipe', 'pipe', 'pipe'] });
    const take = (chunk: Buffer) => {
      this.output += chunk.toString();
      this.check();
    };
    this.child.stdout.on('data', take);
    this.child.stderr.on('data', take);
    this.child.on('exit', (code, signal) => {
      this.exited = `qemu-io on ${target} exited (${code ?? signal}): ${this.output.slice(-500)}`;
      this.waiting?.reject(new Error(this.exited));
      this.waiting = undefined;
    });
  }

  /** Fills `length` bytes at `offset` with the byte `pattern` (0–255) and waits for the acknowledgement. */
  async write(offset: number, length: number, pattern: number): Promise<void> {
    await this.command(`write -P ${pattern} ${offset} ${length}`, new RegExp(`wrote ${length}/${length} bytes at offset ${offset}\\b`));
  }

  async flush(): Promise<void> {
    await this.command('flush', /qemu-io> $/);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.child.stdin.end('quit\n');
    await new Promise((resolve) => this.child.once('exit', resolve));
  }

  private command(text: string, done: RegExp): Promise<string> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    if (this.waiting) return Promise.reject(new Error('one command at a time'));
    this.output = '';
    return new Promise((resolve, reject) => {
      this.waiting = { pattern: done, resolve, reject };
      this.child.stdin.write(`${text}\n`);
    });
  }

  private check(): void {
    if (!this.waiting) return;
    const failure = /(^|\n)(write|flush) failed: .*|Input\/output error|Connection refused/.exec(this.output);
    if (failure) {
      const { reject } = this.waiting;
      this.waiting = undefined;
      reject(new Error(`qemu-io on ${this.target}: ${failure[0].trim()}`));
      return;
    }
    const match = this.waiting.pattern.exec(this.output);
    if (match) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(match[0]);
    }
  }
}
