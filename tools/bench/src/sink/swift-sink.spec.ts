import { createHash } from 'node:crypto';
import { Server } from 'node:http';
import { SwiftClient, SwiftObjectExistsError, TempAuth } from '@island/swift';
import { startSwiftSink } from './swift-sink';

describe('the Swift sink, through island’s Swift client', () => {
  let server: Server;
  let swift: SwiftClient;

  beforeAll(async () => {
    const sink = await startSwiftSink({ maxBytes: 1024 });
    server = sink.server;
    swift = new SwiftClient({ auth: new TempAuth(`http://127.0.0.1:${sink.port}/auth/v1.0`, 'any', 'any'), retry: { retries: 0 } });
    await swift.createContainer('c');
  });

  afterAll(async () => {
    await swift.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('stores write-once with the MD5 as ETag, and serves whole and ranged GETs and HEADs with metadata', async () => {
    const etag = await swift.putObject('c', 'blocks/a', Buffer.from('hello sink'), { ifNoneMatch: true, headers: { 'x-object-meta-project': 'p1' } });
    expect(etag).toBe(createHash('md5').update('hello sink').digest('hex'));
    await expect(swift.putObject('c', 'blocks/a', Buffer.from('other'), { ifNoneMatch: true })).rejects.toBeInstanceOf(SwiftObjectExistsError);
    expect((await swift.getObjectWithMetadata('c', 'blocks/a')).metadata).toEqual({ project: 'p1' });
    expect((await swift.getObject('c', 'blocks/a', { offset: 6, length: 4 })).toString()).toBe('sink');
    expect((await swift.headObject('c', 'blocks/a')).size).toBe(10);
  });

  it('refuses a body whose stated MD5 differs', async () => {
    await expect(swift.putObject('c', 'blocks/b', Buffer.from('x'), { md5: '0'.repeat(32) })).rejects.toThrow(/MD5|422/);
  });

  it('lists under a prefix and deletes in bulk', async () => {
    await swift.putObject('c', 'keys/p1', Buffer.from('k'));
    expect((await swift.listObjects('c', { prefix: 'blocks/' })).map((o) => o.name)).toEqual(['blocks/a']);
    expect((await swift.listObjects('c', { delimiter: '/' })).map((o) => o.subdir)).toEqual(['blocks/', 'keys/']);
    const result = await swift.bulkDelete([
      { container: 'c', name: 'blocks/a' },
      { container: 'c', name: 'keys/p1' },
      { container: 'c', name: 'gone' },
    ]);
    expect(result).toMatchObject({ deleted: 2, notFound: 1 });
  });

  it('refuses a PUT past its memory bound instead of dropping the body', async () => {
    await expect(swift.putObject('c', 'big', Buffer.alloc(2048, 1))).rejects.toThrow(/507/);
  });
});
