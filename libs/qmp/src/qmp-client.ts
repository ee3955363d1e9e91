import { EventEmitter } from 'node:events';
import { connect, Socket } from 'node:net';
import { QmpCommand, QmpCommands, QmpEvent } from './qmp-commands';
import { QmpCommandError, QmpConnectionError } from './qmp-errors';

const DEFAULT_TIMEOUT_MS = 30_000;

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A QMP client on a unix socket: the greeting and capabilities negotiation, commands correlated by id
 * with a timeout each, QEMU's errors as QmpCommandError, and events (emitted, or awaited with waitForEvent).
 * One connection per monitor; QEMU serves commands of one connection in order.
 */
export class QmpClient {
  private readonly events = new EventEmitter();
  private readonly pending = new Map<number, Pending>();
  private buffer = '';
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('close', () => this.fail(new QmpConnectionError(socketPath, 'the monitor closed the connection')));
    socket.on('error', (error) => this.fail(new QmpConnectionError(socketPath, error.message)));
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(socketPath: string, timeoutMs = 5_000): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new QmpConnectionError(socketPath, `no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(new QmpConnectionError(socketPath, error.message));
      });
    });
    const client = new QmpClient(socket, socketPath);
    await client.greeting(timeoutMs);
    await client.execute('qmp_capabilities', {}, timeoutMs);
    return client;
  }

  async execute<C extends QmpCommand>(command: C, args: QmpCommands[C]['args'], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<QmpCommands[C]['reply']> {
    if (this.closed) throw new QmpConnectionError(this.socketPath, `closed; cannot send ${command}`);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpConnectionError(this.socketPath, `no reply to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      const message = Object.keys(args).length > 0 ? { execute: command, arguments: args, id } : { execute: command, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  /** Resolves with the first event of that name matching `match`, sent after this call. */
  waitForEvent(name: string, match: (data: Record<string, unknown>) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new QmpConnectionError(this.socketPath, `no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onEvent((event) => {
        if (event.event !== name || !match(event.data ?? {})) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new QmpConnectionError(this.socketPath, `no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
      this.events.once('greeting', () => {
        clearTimeout(timer);
        resolve();
      });
      this.events.once('broken', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    for (let newline = this.buffer.indexOf('\n'); newline >= 0; newline = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.handle(line);
    }
  }

  private handle(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.fail(new QmpConnectionError(this.socketPath, `not QMP (a line that is not JSON: ${line.slice(0, 120)})`));
      return;
    }
    if ('QMP' in message) {
      this.events.emit('greeting');
      return;
    }
    if (typeof message.event === 'string') {
      this.events.emit('event', message as unknown as QmpEvent);
      return;
    }
    const pending = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
    if (!pending) return; // a reply to a command that timed out
    this.pending.delete(message.id as number);
    clearTimeout(pending.timer);
    if ('error' in message) {
      const error = message.error as { class?: string; desc?: string };
      pending.reject(new QmpCommandError(pending.command, error.class ?? 'GenericError', error.desc ?? 'no description'));
    } else {
      pending.resolve(message.return ?? {});
    }
  }

  private fail(error: QmpConnectionError): void {
    if (this.closed && this.pending.size === 0) return;
    this.closed = true;
    this.events.emit('broken', error);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(error);
      this.pending.delete(id);
    }
    this.socket.destroy();
  }
}
