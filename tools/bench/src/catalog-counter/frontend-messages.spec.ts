import { FrontendMessageCounter, MessageCounts } from './frontend-messages';

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function startup(code: number, body = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(8);
  header.writeInt32BE(body.length + 8, 0);
  header.writeInt32BE(code, 4);
  return Buffer.concat([header, body]);
}

describe('FrontendMessageCounter', () => {
  const stream = Buffer.concat([
    startup(80877103), // SSLRequest: the startup message follows
    startup(196608, Buffer.from('user\0postgres\0\0')),
    message('Q', Buffer.from('BEGIN\0')),
    message('P', Buffer.from('\0SELECT 1\0\0\0')),
    message('B', Buffer.alloc(10)),
    message('E', Buffer.alloc(5)),
    message('S', Buffer.alloc(0)),
    message('Q', Buffer.from('COMMIT\0')),
  ]);

  it('counts messages by type after the untyped startup messages', () => {
    const counts: MessageCounts = {};
    new FrontendMessageCounter(counts).feed(stream);
    expect(counts).toEqual({ Q: 2, P: 1, B: 1, E: 1, S: 1 });
  });

  it('counts the same however the stream is cut into chunks', () => {
    for (const size of [1, 3, 7]) {
      const counts: MessageCounts = {};
      const counter = new FrontendMessageCounter(counts);
      for (let at = 0; at < stream.length; at += size) counter.feed(stream.subarray(at, at + size));
      expect(counts).toEqual({ Q: 2, P: 1, B: 1, E: 1, S: 1 });
    }
  });
});
