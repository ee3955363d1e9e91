/** Startup-phase request codes after which the client sends its startup message again (PostgreSQL protocol 3). */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** What clients sent PostgreSQL, by frontend message type ('Q' simple query, 'E' execute, 'S' sync, …). */
export type MessageCounts = Record<string, number>;

/**
 * Follows one connection's client-to-server byte stream and counts its messages by type, however the stream is
 * cut into chunks. The first message (startup, and any SSL/GSS request before it) has no type byte.
 */
export class FrontendMessageCounter {
  private startup = true;
  private header = Buffer.alloc(0);
  private skip = 0;

  constructor(private readonly counts: MessageCounts) {}

  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const wanted = this.startup ? 8 : 5;
      const take = Math.min(wanted - this.header.length, chunk.length - at);
      this.header = Buffer.concat([this.header, chunk.subarray(at, at + take)]);
      at += take;
      if (this.header.length < wanted) return;
      if (this.startup) {
        const code = this.header.readInt32BE(4);
        this.skip = this.header.readInt32BE(0) - 8;
        this.startup = code === SSL_REQUEST || code === GSSENC_REQUEST;
      } else {
        const type = String.fromCharCode(this.header[0]);
        this.counts[type] = (this.counts[type] ?? 0) + 1;
        this.skip = this.header.readInt32BE(1) - 4;
      }
      this.header = Buffer.alloc(0);
    }
  }
}
