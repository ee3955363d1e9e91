import { connect, Socket } from 'node:net';
import {
  CLIENT_NO_ZEROES,
  Command,
  HANDSHAKE_FIXED_NEWSTYLE,
  IHAVEOPT,
  NBD_MAGIC,
  Option,
  OPTION_REPLY_MAGIC,
  OptionReply,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
} from './nbd-protocol';

const CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;

/** An NBD connection failed or a request was refused; the message names the export and what was answered. */
export class NbdClientError extends Error {
  constructor(
    message: string,
    /** The errno the server answered a request with (5: EIO), when it did. */
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'NbdClientError';
  }
}

interface PendingRead {
  offset: number;
  length: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * A minimal NBD client (fixed newstyle, NBD_OPT_GO, simple replies) that reads an export only to make the server read
 * it: the bytes are dropped as they arrive. The agent uses it to pull a filling volume through its copy-on-read filter.
 * Several reads may be in flight; replies come in any order.
 */
export class NbdReadClient {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly pending = new Map<bigint, PendingRead>();
  private nextHandle = 1n;
  /** Data bytes of the current reply still to drop. */
  private dropping = 0;
  private failure?: Error;

  private constructor(
    private readonly socket: Socket,
    readonly exportName: string,
    readonly size: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (error) => this.fail(new NbdClientError(`NBD export ${exportName}: ${error.message}`)));
    socket.on('close', () => this.fail(new NbdClientError(`NBD export ${exportName}: the server closed the connection`)));
  }

  static async connect(socketPath: string, exportName: string): Promise<NbdReadClient> {
    const socket = connect(socketPath);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`no NBD handshake within ${CONNECT_TIMEOUT_MS} ms`)));
    const where = `NBD export ${exportName} at ${socketPath}`;
    try {
      const reader = new HandshakeReader(socket);
      const greeting = await reader.take(18);
      if (!greeting.subarray(0, 8).equals(NBD_MAGIC) || !greeting.subarray(8, 16).equals(IHAVEOPT)) throw new Error('not an NBD newstyle server');
      if ((greeting.readUInt16BE(16) & HANDSHAKE_FIXED_NEWSTYLE) === 0) throw new Error('the server does not speak fixed newstyle');
      const flags = Buffer.alloc(4);
      flags.writeUInt32BE(HANDSHAKE_FIXED_NEWSTYLE | CLIENT_NO_ZEROES);
      const name = Buffer.from(exportName);
      const option = Buffer.alloc(16 + 4 + name.length + 2);
      IHAVEOPT.copy(option, 0);
      option.writeUInt32BE(Option.Go, 8);
      option.writeUInt32BE(4 + name.length + 2, 12);
      option.writeUInt32BE(name.length, 16);
      name.copy(option, 20);
      option.writeUInt16BE(0, 20 + name.length);
      socket.write(Buffer.concat([flags, option]));
      let size: number | undefined;
      for (;;) {
        const head = await reader.take(20);
        if (head.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw new Error('bad option reply magic');
        const type = head.readUInt32BE(12);
        const data = await reader.take(head.readUInt32BE(16));
        if (type === OptionReply.Ack) break;
        if (type === OptionReply.Info && data.readUInt16BE(0) === 0) size = Number(data.readBigUInt64BE(2));
        else if (type >= 0x80000000) throw new Error(`the export was refused (error 0x${type.toString(16)}${data.length ? `: ${data.toString()}` : ''})`);
      }
      if (size === undefined) throw new Error('the server did not tell the export size');
      socket.setTimeout(0);
      const client = new NbdReadClient(socket, exportName, size);
      const rest = reader.release();
      if (rest.length > 0) client.received(rest);
      return client;
    } catch (error) {
      socket.destroy();
      throw new NbdClientError(`${where}: ${(error as Error).message}`);
    }
  }

  /** Reads `length` bytes at `offset` (the bytes are dropped); rejects with the server's errno when it refuses. */
  read(offset: number, length: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const handle = this.nextHandle++;
    const request = Buffer.alloc(28);
    request.writeUInt32BE(REQUEST_MAGIC, 0);
    request.writeUInt16BE(0, 4);
    request.writeUInt16BE(Command.Read, 6);
    request.writeBigUInt64BE(handle, 8);
    request.writeBigUInt64BE(BigInt(offset), 16);
    request.writeUInt32BE(length, 24);
    return new Promise((resolve, reject) => {
      this.pending.set(handle, { offset, length, resolve, reject });
      this.socket.write(request);
    });
  }

  /** Drops the connection: every read in flight fails now. */
  abort(): void {
    this.fail(new NbdClientError(`NBD export ${this.exportName}: aborted`));
    this.socket.destroy();
  }

  /** Disconnects and waits until the connection is closed (the server lets an export go only once no client holds it). */
  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    const timer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
    if (!this.failure) {
      const request = Buffer.alloc(28);
      request.writeUInt32BE(REQUEST_MAGIC, 0);
      request.writeUInt16BE(Command.Disconnect, 6);
      this.socket.end(request);
    } else {
      this.socket.destroy();
    }
    this.fail(new NbdClientError(`NBD export ${this.exportName}: closed`));
    await closed;
    clearTimeout(timer);
  }

  private received(chunk: Buffer): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    for (;;) {
      if (this.dropping > 0) {
        const dropped = Math.min(this.dropping, this.bufferedBytes);
        this.skip(dropped);
        this.dropping -= dropped;
        if (this.dropping > 0) return;
        continue;
      }
      if (this.bufferedBytes < 16) return;
      const head = this.take(16);
      const handle = head.readBigUInt64BE(8);
      const read = this.pending.get(handle);
      if (head.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC || !read) {
        this.fail(new NbdClientError(`NBD export ${this.exportName}: a reply the client cannot parse`));
        this.socket.destroy();
        return;
      }
      this.pending.delete(handle);
      const errno = head.readUInt32BE(4);
      if (errno !== 0) {
        read.reject(new NbdClientError(`NBD export ${this.exportName}: read of ${read.length} bytes at ${read.offset} failed (errno ${errno})`, errno));
        continue;
      }
      this.dropping = read.length;
      read.resolve();
    }
  }

  private take(bytes: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered);
    this.buffered = all.length > bytes ? [all.subarray(bytes)] : [];
    this.bufferedBytes -= bytes;
    return all.subarray(0, bytes);
  }

  private skip(bytes: number): void {
    let left = bytes;
    while (left > 0) {
      const first = this.buffered[0];
      if (first.length <= left) {
        this.buffered.shift();
        left -= first.length;
      } else {
        this.buffered[0] = first.subarray(left);
        left = 0;
      }
    }
    this.bufferedBytes -= bytes;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const read of this.pending.values()) read.reject(this.failure);
    this.pending.clear();
  }
}

/** Reads exact byte counts off a socket during the handshake, keeping what comes after for the transmission phase. */
class HandshakeReader {
  private buffered = Buffer.alloc(0);
  private waiting?: { bytes: number; resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private error?: Error;
  private readonly onData = (chunk: Buffer) => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.serve();
  };
  private readonly onEnd = (error?: Error) => {
    this.error = error ?? new Error('the server closed the connection during the handshake');
    this.waiting?.reject(this.error);
    this.waiting = undefined;
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.once('error', this.onEnd);
    socket.once('close', () => this.onEnd());
  }

  take(bytes: number): Promise<Buffer> {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.waiting = { bytes, resolve, reject };
      this.serve();
    });
  }

  /** Stops reading; what was received past the handshake. */
  release(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.removeAllListeners('error');
    this.socket.removeAllListeners('close');
    return this.buffered;
  }

  private serve(): void {
    if (!this.waiting || this.buffered.length < this.waiting.bytes) return;
    const { bytes, resolve } = this.waiting;
    this.waiting = undefined;
    const taken = this.buffered.subarray(0, bytes);
    this.buffered = this.buffered.subarray(bytes);
    resolve(taken);
  }
}
