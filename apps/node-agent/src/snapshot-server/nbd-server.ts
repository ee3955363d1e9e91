import { Logger } from '@nestjs/common';
import { rmSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { ByteReader } from '@island/blockstore';
import {
  blockSizeInfo,
  CLIENT_NO_ZEROES,
  Command,
  exportInfo,
  HANDSHAKE_FIXED_NEWSTYLE,
  HANDSHAKE_NO_ZEROES,
  IHAVEOPT,
  MAX_REQUEST_BYTES,
  NBD_MAGIC,
  NbdErrno,
  NbdRequest,
  Option,
  OptionReply,
  optionReply,
  parseRequest,
  simpleReply,
  TRANSMISSION_CAN_MULTI_CONN,
  TRANSMISSION_HAS_FLAGS,
  TRANSMISSION_READ_ONLY,
} from './nbd-protocol';

/** A read-only disk an NBD client can read by offset. */
export interface NbdExport {
  readonly size: number;
  /** The client's best request size (a block of the snapshot). */
  readonly preferredBlockSize: number;
  read(offset: number, length: number): Promise<Buffer>;
  /** Told once a reply `read` returned is written to the client (or its connection closed): its memory may be reused. */
  readDone?(reply: Buffer): void;
}

/** Finds the export a client names; undefined: no such export (the client is told so). */
export type ExportResolver = (name: string) => Promise<NbdExport | undefined>;

/** Reads of one connection in flight at once: what bounds the memory a client can make the server hold. */
const READS_IN_FLIGHT = 16;
const MAX_OPTION_BYTES = 64 * 1024;

class ProtocolError extends Error {}

/**
 * A read-only NBD server on a unix socket (fixed newstyle handshake, simple replies): serves each export its
 * resolver knows. Writes are refused (EPERM); reads that fail are answered with EIO, never with other bytes.
 */
export class NbdServer {
  private readonly logger = new Logger('NbdServer');
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly socketPath: string,
    private readonly resolve: ExportResolver,
  ) {}

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true }); // left by a server that died: clients reconnect to the new one
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined); // a client that goes away mid-reply: its reads are dropped
    this.converse(socket).catch((error: Error) => {
      if (!(error instanceof ProtocolError)) this.logger.warn(`NBD connection ended: ${error.message}`);
      else this.logger.warn(`NBD client refused: ${error.message}`);
      socket.destroy();
    });
  }

  private async converse(socket: Socket): Promise<void> {
    const reader = new ByteReader(socket);
    const hello = Buffer.alloc(18);
    NBD_MAGIC.copy(hello, 0);
    IHAVEOPT.copy(hello, 8);
    hello.writeUInt16BE(HANDSHAKE_FIXED_NEWSTYLE | HANDSHAKE_NO_ZEROES, 16);
    socket.write(hello);
    const clientFlags = (await this.need(reader, 4)).readUInt32BE(0);
    const served = await this.negotiate(socket, reader, (clientFlags & CLIENT_NO_ZEROES) !== 0);
    if (served) await this.transmit(socket, reader, served);
  }

  /** Options until the client picks an export (returned) or aborts (undefined). */
  private async negotiate(socket: Socket, reader: ByteReader, noZeroes: boolean): Promise<NbdExport | undefined> {
    for (;;) {
      const head = await this.need(reader, 16);
      if (!head.subarray(0, 8).equals(IHAVEOPT)) throw new ProtocolError('option without the IHAVEOPT magic');
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      if (length > MAX_OPTION_BYTES) throw new ProtocolError(`option ${option} of ${length} bytes`);
      const data = length > 0 ? await this.need(reader, length) : Buffer.alloc(0);
      if (option === Option.Abort) {
        socket.end(optionReply(option, OptionReply.Ack));
        return undefined;
      }
      if (option === Option.ExportName) {
        const served = await this.resolve(data.toString('utf8'));
        if (!served) throw new ProtocolError(`unknown export ${JSON.stringify(data.toString('utf8'))}`);
        const reply = Buffer.alloc(noZeroes ? 10 : 134);
        reply.writeBigUInt64BE(BigInt(served.size), 0);
        reply.writeUInt16BE(FLAGS, 8);
        socket.write(reply);
        return served;
      }
      if (option === Option.Go || option === Option.Info) {
        const served = await this.answerInfo(socket, option, data);
        if (served && option === Option.Go) return served;
        continue;
      }
      socket.write(optionReply(option, OptionReply.ErrUnsupported));
    }
  }

  private async answerInfo(socket: Socket, option: number, data: Buffer): Promise<NbdExport | undefined> {
    if (data.length < 6 || data.readUInt32BE(0) + 6 > data.length) {
      socket.write(optionReply(option, OptionReply.ErrInvalid));
      return undefined;
    }
    const name = data.subarray(4, 4 + data.readUInt32BE(0)).toString('utf8');
    const served = await this.resolve(name);
    if (!served) {
      socket.write(optionReply(option, OptionReply.ErrUnknown, Buffer.from(`no export named ${name}`)));
      return undefined;
    }
    socket.write(optionReply(option, OptionReply.Info, exportInfo(served.size, FLAGS)));
    socket.write(optionReply(option, OptionReply.Info, blockSizeInfo(served.preferredBlockSize)));
    socket.write(optionReply(option, OptionReply.Ack));
    return served;
  }

  private async transmit(socket: Socket, reader: ByteReader, served: NbdExport): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      const header = await reader.read(28);
      if (!header) break; // the client went away
      const request = parseRequest(header);
      if (request.command === Command.Disconnect) break;
      if (request.command === Command.Write) await reader.read(request.length); // refused below, but its payload is on the wire
      while (inFlight.size >= READS_IN_FLIGHT) await Promise.race(inFlight);
      const answered = this.answer(socket, served, request).finally(() => inFlight.delete(answered));
      inFlight.add(answered);
    }
    await Promise.allSettled(inFlight);
    socket.end();
  }

  private async answer(socket: Socket, served: NbdExport, request: NbdRequest): Promise<void> {
    const { command, handle, offset, length } = request;
    if (command === Command.Flush || command === Command.Cache) return void socket.write(simpleReply(handle, 0));
    if (command !== Command.Read) return void socket.write(simpleReply(handle, NbdErrno.Perm));
    if (length > MAX_REQUEST_BYTES || offset + length > served.size) return void socket.write(simpleReply(handle, NbdErrno.Inval));
    let data: Buffer;
    try {
      data = await served.read(offset, length);
    } catch (error) {
      this.logger.error(`NBD read of ${length} bytes at ${offset} failed: ${(error as Error).message}`);
      return void socket.write(simpleReply(handle, NbdErrno.Io));
    }
    // header and data written together (corked, in one tick), so that concurrent replies never interleave
    socket.cork();
    socket.write(simpleReply(handle, 0));
    socket.write(data, () => served.readDone?.(data)); // called once written, or with an error once the socket is gone
    socket.uncork();
  }

  private async need(reader: ByteReader, n: number): Promise<Buffer> {
    const bytes = await reader.read(n);
    if (!bytes) throw new ProtocolError('the client closed the connection during the handshake');
    return bytes;
  }
}

const FLAGS = TRANSMISSION_HAS_FLAGS | TRANSMISSION_READ_ONLY | TRANSMISSION_CAN_MULTI_CONN;
