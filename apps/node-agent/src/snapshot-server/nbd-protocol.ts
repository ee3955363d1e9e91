/**
 * The parts of the NBD protocol (the "fixed newstyle" handshake and simple replies) a read-only server needs, as the
 * protocol document in the NBD project defines them.
 */
export const NBD_MAGIC = Buffer.from('NBDMAGIC');
export const IHAVEOPT = Buffer.from('IHAVEOPT');
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;

export const HANDSHAKE_FIXED_NEWSTYLE = 1;
export const HANDSHAKE_NO_ZEROES = 2;
export const CLIENT_NO_ZEROES = 2;

export const enum Option {
  ExportName = 1,
  Abort = 2,
  Go = 7,
  Info = 6,
}

export const enum OptionReply {
  Ack = 1,
  Info = 3,
  ErrUnsupported = 0x80000001,
  ErrPolicy = 0x80000002,
  ErrInvalid = 0x80000003,
  ErrUnknown = 0x80000006,
}

export const INFO_EXPORT = 0;
export const INFO_BLOCK_SIZE = 3;

export const TRANSMISSION_HAS_FLAGS = 1;
export const TRANSMISSION_READ_ONLY = 2;
export const TRANSMISSION_CAN_MULTI_CONN = 1 << 8;

export const enum Command {
  Read = 0,
  Write = 1,
  Disconnect = 2,
  Flush = 3,
  Trim = 4,
  Cache = 5,
  WriteZeroes = 6,
}

export const enum NbdErrno {
  Perm = 1,
  Io = 5,
  Inval = 22,
  ShutDown = 108,
}

/** The largest read a client may ask for: QEMU's own limit, and what bounds the memory a request can take. */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

export interface NbdRequest {
  flags: number;
  command: number;
  handle: Buffer;
  offset: number;
  length: number;
}

export function parseRequest(header: Buffer): NbdRequest {
  const magic = header.readUInt32BE(0);
  if (magic !== REQUEST_MAGIC) throw new Error(`bad NBD request magic 0x${magic.toString(16)}`);
  return {
    flags: header.readUInt16BE(4),
    command: header.readUInt16BE(6),
    handle: header.subarray(8, 16),
    offset: Number(header.readBigUInt64BE(16)),
    length: header.readUInt32BE(24),
  };
}

export function simpleReply(handle: Buffer, error: number): Buffer {
  const reply = Buffer.alloc(16);
  reply.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  reply.writeUInt32BE(error, 4);
  handle.copy(reply, 8);
  return reply;
}

export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(20);
  head.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  head.writeUInt32BE(option, 8);
  head.writeUInt32BE(type, 12);
  head.writeUInt32BE(data.length, 16);
  return Buffer.concat([head, data]);
}

export function exportInfo(size: number, flags: number): Buffer {
  const info = Buffer.alloc(12);
  info.writeUInt16BE(INFO_EXPORT, 0);
  info.writeBigUInt64BE(BigInt(size), 2);
  info.writeUInt16BE(flags, 10);
  return info;
}

export function blockSizeInfo(preferred: number): Buffer {
  const info = Buffer.alloc(14);
  info.writeUInt16BE(INFO_BLOCK_SIZE, 0);
  info.writeUInt32BE(1, 2);
  info.writeUInt32BE(preferred, 6);
  info.writeUInt32BE(MAX_REQUEST_BYTES, 10);
  return info;
}
