import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { loadConfig } from '@island/config';
import {
  SwiftAuthError,
  SwiftBulkDeleteError,
  SwiftChecksumError,
  SwiftClient,
  SwiftConflictError,
  SwiftNotFoundError,
  SwiftObjectExistsError,
  swiftClientFor,
  TempAuth,
} from './index';

/** These tests talk to the real Swift that `scripts/services.sh up` starts (the first configured region). */
const region = loadConfig(process.env).regions[0];
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');

describe('SwiftClient against the real Swift', () => {
  let swift: SwiftClient;
  const container = `island-test-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    swift = swiftClientFor(region, { concurrency: 8, timeoutMs: 30_000, retries: 2 });
    await swift.createContainer(container);
  });

  afterAll(async () => {
    const names = [];
    for await (const entry of swift.iterateObjects(container)) names.push({ container, name: entry.name });
    if (names.length) await swift.bulkDelete(names);
    await swift.deleteContainer(container);
    await swift.close();
  });

  it('stores an object and reads back the same bytes, with its MD5 as ETag', async () => {
    const data = randomBytes(1 << 20);
    const etag = await swift.putObject(container, 'blocks/one', data);
    expect(etag).toBe(md5(data));
    expect(await swift.getObject(container, 'blocks/one')).toEqual(data);
    const info = await swift.headObject(container, 'blocks/one');
    expect(info).toMatchObject({ size: data.length, etag: md5(data) });
  });

  it('streams an upload, checks the MD5 Swift answers, and streams it back verified', async () => {
    const chunks = Array.from({ length: 16 }, () => randomBytes(64 * 1024));
    const whole = Buffer.concat(chunks);
    const etag = await swift.putObject(container, 'streamed', () => Readable.from(chunks));
    expect(etag).toBe(md5(whole));
    const { stream, size, verified } = await swift.getObjectStream(container, 'streamed');
    const received: Buffer[] = [];
    for await (const chunk of stream) received.push(chunk as Buffer);
    await verified;
    expect(size).toBe(whole.length);
    expect(Buffer.concat(received)).toEqual(whole);
  });

  it('reads a body into the memory it is given', async () => {
    const data = randomBytes(300_000);
    await swift.putObject(container, 'into-memory', data);
    const lent = Buffer.alloc(data.length);
    const lengths: number[] = [];
    const body = await swift.getObject(container, 'into-memory', undefined, {
      memory: (length) => {
        lengths.push(length);
        return lent;
      },
    });
    expect(body).toBe(lent);
    expect(body).toEqual(data);
    expect(lengths).toEqual([data.length]);
  });

  it('fails an upload whose stream fails, with the error of the stream, and stores nothing', async () => {
    async function* failing() {
      yield randomBytes(256 * 1024);
      throw new Error('the source broke');
    }
    await expect(swift.putObject(container, 'broken-stream', () => Readable.from(failing()))).rejects.toThrow('the source broke');
    expect(await swift.objectExists(container, 'broken-stream')).toBe(false);
  });

  it('reads a byte range of an object', async () => {
    const data = randomBytes(100_000);
    await swift.putObject(container, 'ranged', data);
    expect(await swift.getObject(container, 'ranged', { offset: 12_345, length: 4_096 })).toEqual(data.subarray(12_345, 12_345 + 4_096));
  });

  it('refuses to replace an object on a write-once PUT and keeps the first bytes', async () => {
    const first = Buffer.from('first');
    await swift.putObject(container, 'once', first, { ifNoneMatch: true });
    await expect(swift.putObject(container, 'once', Buffer.from('second'), { ifNoneMatch: true })).rejects.toBeInstanceOf(SwiftObjectExistsError);
    expect(await swift.getObject(container, 'once')).toEqual(first);
  });

  it('rejects an upload whose declared MD5 does not match its bytes and stores nothing', async () => {
    const stream = () => Readable.from([Buffer.from('payload')]);
    const error = await swift.putObject(container, 'bad-md5', stream, { md5: md5(Buffer.from('other')) }).catch((e) => e);
    expect(error).toBeInstanceOf(SwiftChecksumError);
    expect(error.message).toContain(`${container}/bad-md5`);
    expect(await swift.objectExists(container, 'bad-md5')).toBe(false);
  });

  it('hands a copy the MD5 Swift stored, so a byte changed on the way is refused by the receiving PUT', async () => {
    const bytes = randomBytes(100_000);
    await swift.putObject(container, 'copy-source', bytes);
    const read = await swift.getObjectForCopy(container, 'copy-source');
    expect(read).toEqual({ data: bytes, md5: md5(bytes) });
    const damaged = Buffer.from(read.data);
    damaged[500] ^= 1;
    const error = await swift.putObject(container, 'copy-target', damaged, { md5: read.md5 }).catch((e) => e);
    expect(error).toBeInstanceOf(SwiftChecksumError);
    expect(await swift.objectExists(container, 'copy-target')).toBe(false);
    await swift.putObject(container, 'copy-target', read.data, { md5: read.md5 });
    expect(await swift.getObject(container, 'copy-target')).toEqual(bytes);
  });

  it('names the object and status when it does not exist', async () => {
    const error = await swift.getObject(container, 'missing/object').catch((e) => e);
    expect(error).toBeInstanceOf(SwiftNotFoundError);
    expect(error.message).toBe(`Swift GET ${container}/missing/object → 404: not found`);
    await expect(swift.headObject(container, 'missing/object')).rejects.toBeInstanceOf(SwiftNotFoundError);
    await expect(swift.deleteObject(container, 'missing/object')).rejects.toBeInstanceOf(SwiftNotFoundError);
    await swift.deleteObject(container, 'missing/object', { ignoreMissing: true });
  });

  it('lists objects by prefix across pages with marker pagination', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `page/${String(i).padStart(3, '0')}`);
    await Promise.all(names.map((n) => swift.putObject(container, n, Buffer.from(n))));
    const firstPage = await swift.listObjects(container, { prefix: 'page/', limit: 10 });
    expect(firstPage.map((e) => e.name)).toEqual(names.slice(0, 10));
    const all = [];
    for await (const entry of swift.iterateObjects(container, { prefix: 'page/', limit: 10 })) all.push(entry);
    expect(all.map((e) => e.name)).toEqual(names);
    expect(all[3]).toMatchObject({ bytes: names[3].length, hash: md5(Buffer.from(names[3])) });
  });

  it('lists its containers', async () => {
    const containers = await swift.listContainers({ prefix: container });
    expect(containers.map((c) => c.name)).toEqual([container]);
  });

  it('handles object names that need escaping', async () => {
    const name = 'odd names/with space?and#hash&amp;%25/ünïcode';
    await swift.putObject(container, name, Buffer.from('x'));
    expect((await swift.getObject(container, name)).toString()).toBe('x');
    const listed = await swift.listObjects(container, { prefix: 'odd names/' });
    expect(listed.map((e) => e.name)).toEqual([name]);
  });

  it('bulk-deletes objects, counting the ones already gone', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `bulk/${i}`);
    await Promise.all(names.map((n) => swift.putObject(container, n, Buffer.from(n))));
    const targets = [...names, 'bulk/never-existed'].map((name) => ({ container, name }));
    const result = await swift.bulkDelete(targets, 12);
    expect(result).toEqual({ deleted: 30, notFound: 1, failures: [] });
    expect(await swift.listObjects(container, { prefix: 'bulk/' })).toEqual([]);
  });

  it('never sends a DELETE once its signal has fired, and deletes while it has not', async () => {
    await swift.putObject(container, 'fenced', Buffer.from('f'));
    await expect(swift.deleteObject(container, 'fenced', { signal: AbortSignal.abort() })).rejects.toThrow();
    expect(await swift.objectExists(container, 'fenced')).toBe(true);
    await swift.deleteObject(container, 'fenced', { signal: new AbortController().signal });
    expect(await swift.objectExists(container, 'fenced')).toBe(false);
  });

  it('reports per-item failures that hide behind HTTP 200 in a bulk delete', async () => {
    const other = `${container}-full`;
    await swift.createContainer(other);
    await swift.putObject(other, 'keep', Buffer.from('k'));
    await swift.putObject(container, 'bulk2/a', Buffer.from('a'));
    const error = await swift.bulkDelete([{ container, name: 'bulk2/a' }, { container: other }]).catch((e) => e);
    expect(error).toBeInstanceOf(SwiftBulkDeleteError);
    expect(error.result).toEqual({ deleted: 1, notFound: 0, failures: [{ path: `/${other}`, status: '409 Conflict' }] });
    expect(error.message).toContain(`/${other} → 409 Conflict`);
    expect(await swift.objectExists(other, 'keep')).toBe(true);
    await expect(swift.deleteContainer(other)).rejects.toBeInstanceOf(SwiftConflictError);
    expect(await swift.bulkDelete([{ container: other, name: 'keep' }, { container: other }])).toEqual({ deleted: 2, notFound: 0, failures: [] });
  });

  it('re-authenticates once when Swift refuses a cached token', async () => {
    const client = new SwiftClient({ auth: new TempAuth(region.swift.authUrl, region.swift.user, region.swift.key) });
    await client.storageUrl();
    // poison the cached session's token: the next call gets 401 and must authenticate again
    const cache = (client as unknown as { tokens: { current: { token: string } } }).tokens;
    cache.current.token = 'AUTH_tk_not_a_real_token';
    await client.putObject(container, 'after-reauth', Buffer.from('ok'));
    expect((await client.getObject(container, 'after-reauth')).toString()).toBe('ok');
    await client.close();
  });

  it('fails with an auth error naming the user when the credentials are wrong', async () => {
    const client = new SwiftClient({ auth: new TempAuth(region.swift.authUrl, region.swift.user, 'wrong-key') });
    const error = await client.listContainers().catch((e) => e);
    expect(error).toBeInstanceOf(SwiftAuthError);
    expect(error.message).toContain(region.swift.user);
    await client.close();
  });

  it('reports the bulk delete middleware among the cluster capabilities', async () => {
    const info = await swift.info();
    expect(info).toHaveProperty('bulk_delete');
    expect(info).toHaveProperty('slo');
  });
});
