import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { Agent, Dispatcher, request } from 'undici';
import { header, SwiftAuthenticator, SwiftSession } from './auth';
import { BodyMemory, BufferedResponse, bufferedRequest } from './buffered-request';
import { BulkDeleteResult, parseBulkDeleteReply } from './bulk-delete';
import { ObjectEntry, ContainerEntry, parseListing } from './listing';
import { backoffDelay, DEFAULT_RETRY_POLICY, isTransientNetworkError, RetryPolicy, sleep } from './retry-policy';
import {
  SwiftAuthError,
  SwiftChecksumError,
  SwiftConflictError,
  SwiftError,
  SwiftNotFoundError,
  SwiftObjectExistsError,
  SwiftProtocolError,
  SwiftRequestError,
  SwiftUnavailableError,
} from './swift-errors';
import { TokenCache } from './token-cache';

export interface SwiftClientOptions {
  auth: SwiftAuthenticator;
  /** Keep-alive connections to the proxy, which is also the number of requests in flight. Default 16. */
  concurrency?: number;
  /** Per attempt: the wait for the reply's headers, and the longest pause within a body. Default 60 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
}

/** A body that can be sent again on retry: bytes (sent in one write), or a factory that opens a fresh stream per attempt. */
export type ObjectBody = Uint8Array | (() => Readable);

export interface PutOptions {
  /** Write-once: fail with SwiftObjectExistsError instead of replacing an existing object. */
  ifNoneMatch?: boolean;
  /** The body's MD5 (hex) when known in advance for a stream; Swift then refuses a mismatch itself. */
  md5?: string;
  contentType?: string;
  /** Needed for streams Swift should not receive chunked, optional otherwise. */
  contentLength?: number;
  headers?: Record<string, string>;
}

export interface ObjectInfo {
  size: number;
  etag: string;
  lastModified?: Date;
  contentType?: string;
  /** X-Object-Meta-* headers, keys lower-cased without the prefix. */
  metadata: Record<string, string>;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface ListOptions {
  prefix?: string;
  marker?: string;
  delimiter?: string;
  /** Page size, at most 10000 (Swift's own limit). */
  limit?: number;
}

export interface ObjectPath {
  container: string;
  name: string;
}

/** An object, or with no name the (empty) container itself. */
export interface BulkDeleteItem {
  container: string;
  name?: string;
}

interface Call {
  operation: string;
  target: string;
  method: Dispatcher.HttpMethod;
  /** Path below the storage URL, already encoded, starting with '/' (or '' for the account). */
  path: string;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  body?: ObjectBody | string;
  /** Aborts the request (and every retry) once it fires: a request not yet written is never sent. */
  signal?: AbortSignal;
}

/**
 * A thin OpenStack Swift client: one keep-alive pool, token caching with re-auth on 401, retries with
 * exponential backoff and jitter on 5xx/resets/timeouts (never on 4xx), MD5 checks on every object transfer.
 */
export class SwiftClient {
  private readonly dispatcher: Agent;
  private readonly tokens: TokenCache;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;

  constructor(options: SwiftClientOptions) {
    const concurrency = options.concurrency ?? 16;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.dispatcher = new Agent({
      connections: concurrency,
      keepAliveTimeout: 30_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    this.tokens = new TokenCache(options.auth, this.dispatcher, this.timeoutMs);
  }

  /** The current token and account URL, authenticating first if needed (for tools that speak HTTP directly). */
  session(): Promise<SwiftSession> {
    return this.tokens.session();
  }

  /** The account URL, authenticating first if needed. */
  async storageUrl(): Promise<string> {
    return (await this.tokens.session()).storageUrl;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  // ---- containers -------------------------------------------------------------------------------

  async createContainer(container: string, headers: Record<string, string> = {}): Promise<void> {
    const res = await this.send({ operation: 'PUT container', target: container, method: 'PUT', path: containerPath(container), headers });
    await res.body.dump();
  }

  async deleteContainer(container: string): Promise<void> {
    const res = await this.send({ operation: 'DELETE container', target: container, method: 'DELETE', path: containerPath(container) });
    await res.body.dump();
  }

  async listContainers(options: ListOptions = {}): Promise<ContainerEntry[]> {
    const res = await this.send({ operation: 'list containers', target: 'account', method: 'GET', path: '', query: listQuery(options) });
    return parseListing('list containers', 'account', res, await readText(res)) as ContainerEntry[];
  }

  /** One page of a container's objects (and `subdir` entries when a delimiter is given). */
  async listObjects(container: string, options: ListOptions = {}): Promise<ObjectEntry[]> {
    const res = await this.send({
      operation: 'list objects',
      target: container,
      method: 'GET',
      path: containerPath(container),
      query: listQuery(options),
    });
    return parseListing('list objects', container, res, await readText(res)) as ObjectEntry[];
  }

  /** Every object of a container under a prefix, page by page (marker pagination). */
  async *iterateObjects(container: string, options: Omit<ListOptions, 'marker'> = {}): AsyncGenerator<ObjectEntry> {
    const limit = options.limit ?? 10_000;
    let marker: string | undefined;
    for (;;) {
      const page = await this.listObjects(container, { ...options, limit, marker });
      yield* page;
      if (page.length < limit) return;
      marker = page[page.length - 1].name ?? page[page.length - 1].subdir;
    }
  }

  // ---- objects ----------------------------------------------------------------------------------

  /**
   * Uploads an object. Byte bodies carry their MD5 in the ETag header so Swift refuses corrupted data; for
   * streams the MD5 is computed on the way and compared with the ETag Swift answers. Returns that ETag.
   */
  async putObject(container: string, name: string, body: ObjectBody, options: PutOptions = {}): Promise<string> {
    const target = `${container}/${name}`;
    const headers: Record<string, string> = {
      'content-type': options.contentType ?? 'application/octet-stream',
      ...options.headers,
    };
    if (options.ifNoneMatch) headers['if-none-match'] = '*';
    let expectedMd5 = options.md5;
    let sent: () => string | undefined = () => expectedMd5;
    let sendBody: ObjectBody;
    if (body instanceof Uint8Array) {
      expectedMd5 ??= createHash('md5').update(body).digest('hex');
      headers['content-length'] = String(body.byteLength);
      sendBody = body;
    } else {
      const source = body;
      if (options.contentLength !== undefined) headers['content-length'] = String(options.contentLength);
      let hashed: string | undefined;
      sent = () => expectedMd5 ?? hashed;
      sendBody = () => {
        const hash = createHash('md5');
        const stream = source();
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            done(null, chunk);
          },
          flush(done) {
            hashed = hash.digest('hex');
            done();
          },
        });
        stream.on('error', (error) => hashing.destroy(error)); // pipe() does not pass a failing source on: the PUT must fail with it
        return stream.pipe(hashing);
      };
    }
    if (expectedMd5) headers.etag = expectedMd5;
    const path = objectPath(container, name);
    let res: Pick<BufferedResponse, 'statusCode' | 'headers'>;
    if (sendBody instanceof Uint8Array) {
      // bytes in memory: the reply read whole, no stream objects per PUT
      const bytes = sendBody;
      res = await this.withRetries('PUT', target, () =>
        this.bufferedAttempt('PUT', target, { method: 'PUT', path, headers, body: bytes, settledByHeaders: true }),
      );
    } else {
      const streamed = await this.send({ operation: 'PUT', target, method: 'PUT', path, headers, body: sendBody });
      await streamed.body.dump();
      res = streamed;
    }
    const etag = unquote(header(res.headers, 'etag'));
    const md5 = sent();
    if (!etag || (md5 && etag !== md5)) {
      let detail = `Swift stored ETag ${etag ?? '(none)'} but we sent MD5 ${md5}`;
      if (!headers.etag) {
        // streamed without an ETag, Swift could not refuse the changed bytes: they are taken away again
        const removed = await this.deleteObject(container, name, { ignoreMissing: true }).then(
          () => 'the stored object was deleted',
          (error: Error) => `deleting the stored object failed too: ${error.message}`,
        );
        detail = `${detail}; ${removed}`;
      }
      throw new SwiftChecksumError('PUT', target, res.statusCode, detail);
    }
    return etag;
  }

  /**
   * Reads an object (or a byte range of it) into memory, retrying as a whole on failure. A whole plain
   * object is checked against its MD5 ETag unless the caller verifies the bytes itself (`verifyMd5: false`,
   * e.g. content-addressed blocks checked against their SHA-256 name); a range cannot be checked here. `memory`
   * gives the memory a successful body is read into (see bufferedRequest).
   */
  async getObject(container: string, name: string, range?: ByteRange, options: { verifyMd5?: boolean; memory?: BodyMemory } = {}): Promise<Buffer> {
    return (await this.getChecked(container, name, range, options.verifyMd5 !== false, options.memory)).data;
  }

  /** Reads a whole object, MD5-checked, with its X-Object-Meta-* metadata (keys lower-cased without the prefix). */
  async getObjectWithMetadata(container: string, name: string): Promise<{ data: Buffer; metadata: Record<string, string> }> {
    const { data, metadata } = await this.getChecked(container, name, undefined, true);
    return { data, metadata };
  }

  /**
   * Reads a whole object and returns it with the MD5 its ETag states, unchecked here: the bytes are meant
   * to be PUT elsewhere with that ETag, and the receiving Swift's check then covers the whole way from the
   * source's disk (one MD5 pass instead of two). Without an ETag the MD5 is computed.
   */
  async getObjectForCopy(container: string, name: string, memory?: BodyMemory): Promise<{ data: Buffer; md5: string }> {
    const { data, etag } = await this.getChecked(container, name, undefined, false, memory);
    return { data, md5: etag && /^[0-9a-f]{32}$/.test(etag) ? etag : createHash('md5').update(data).digest('hex') };
  }

  private async getChecked(
    container: string,
    name: string,
    range: ByteRange | undefined,
    verifyMd5: boolean,
    memory?: BodyMemory,
  ): Promise<{ data: Buffer; etag?: string; metadata: Record<string, string> }> {
    const target = `${container}/${name}`;
    const path = objectPath(container, name);
    return this.withRetries('GET', target, async () => {
      const res = await this.bufferedAttempt('GET', target, { method: 'GET', path, headers: rangeHeaders(range) }, memory);
      return { data: this.checkGet(target, res, range, verifyMd5), etag: unquote(header(res.headers, 'etag')), metadata: objectMetadata(res.headers) };
    });
  }

  private checkGet(target: string, res: BufferedResponse, range: ByteRange | undefined, verifyMd5: boolean): Buffer {
    const data = res.body;
    const etag = unquote(header(res.headers, 'etag'));
    if (verifyMd5 && !range && etag !== undefined && header(res.headers, 'x-static-large-object') === undefined) {
      const md5 = createHash('md5').update(data).digest('hex');
      if (md5 !== etag) throw new SwiftChecksumError('GET', target, res.statusCode, `received MD5 ${md5}, ETag says ${etag}`);
    }
    const length = Number(header(res.headers, 'content-length'));
    if (Number.isFinite(length) && data.byteLength !== length) {
      throw new SwiftProtocolError('GET', target, res.statusCode, `reply ended after ${data.byteLength} of ${length} bytes`);
    }
    if (range && data.byteLength !== range.length && !(res.statusCode === 206 && data.byteLength === length)) {
      throw new SwiftProtocolError('GET', target, res.statusCode, `asked for ${range.length} bytes at ${range.offset}, got ${data.byteLength}`);
    }
    return data;
  }

  /**
   * Streams an object. Retries apply until the reply's headers arrive; after that, a broken stream is the
   * caller's to retry. The returned `verify()` resolves after the stream ended and its MD5 matched.
   */
  async getObjectStream(
    container: string,
    name: string,
    range?: ByteRange,
  ): Promise<{ stream: Readable; size: number; etag?: string; metadata: Record<string, string>; verified: Promise<void> }> {
    const target = `${container}/${name}`;
    const res = await this.withRetries('GET', target, () => this.open('GET', target, objectPath(container, name), rangeHeaders(range)));
    const etag = unquote(header(res.headers, 'etag'));
    const stream = res.body as unknown as Readable;
    const checkMd5 = !range && etag !== undefined && header(res.headers, 'x-static-large-object') === undefined;
    const hash = createHash('md5');
    const verified = new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => checkMd5 && hash.update(chunk));
      stream.on('error', reject);
      stream.on('end', () => {
        const md5 = checkMd5 ? hash.digest('hex') : undefined;
        if (md5 && md5 !== etag) reject(new SwiftChecksumError('GET', target, res.statusCode, `received MD5 ${md5}, ETag says ${etag}`));
        else resolve();
      });
    });
    verified.catch(() => undefined);
    return { stream, size: Number(header(res.headers, 'content-length')), etag, metadata: objectMetadata(res.headers), verified };
  }

  /** The object's size, ETag and metadata; SwiftNotFoundError when it does not exist. */
  async headObject(container: string, name: string): Promise<ObjectInfo> {
    const res = await this.send({ operation: 'HEAD', target: `${container}/${name}`, method: 'HEAD', path: objectPath(container, name) });
    await res.body.dump();
    const metadata = objectMetadata(res.headers);
    const lastModified = header(res.headers, 'last-modified');
    return {
      size: Number(header(res.headers, 'content-length')),
      etag: unquote(header(res.headers, 'etag')) ?? '',
      lastModified: lastModified ? new Date(lastModified) : undefined,
      contentType: header(res.headers, 'content-type'),
      metadata,
    };
  }

  /** Whether the object exists (HEAD). */
  async objectExists(container: string, name: string): Promise<boolean> {
    try {
      await this.headObject(container, name);
      return true;
    } catch (error) {
      if (error instanceof SwiftNotFoundError) return false;
      throw error;
    }
  }

  /**
   * Deletes an object; with `ignoreMissing`, an object already gone is not an error. Once `signal` fires, the
   * request is abandoned and neither it nor a retry is sent any more.
   */
  async deleteObject(container: string, name: string, options: { ignoreMissing?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    try {
      const res = await this.send({
        operation: 'DELETE',
        target: `${container}/${name}`,
        method: 'DELETE',
        path: objectPath(container, name),
        signal: options.signal,
      });
      await res.body.dump();
    } catch (error) {
      if (!(options.ignoreMissing && error instanceof SwiftNotFoundError)) throw error;
    }
  }

  /**
   * Deletes many objects with the bulk middleware, `batchSize` per request. Swift answers 200 even when
   * items fail, so the JSON reply is read: items already gone count as not found; any other per-item
   * failure throws SwiftBulkDeleteError carrying the whole result. An item without a name deletes its
   * container, which must be empty by then (Swift processes the lines in order).
   */
  async bulkDelete(objects: BulkDeleteItem[], batchSize = 1000): Promise<BulkDeleteResult> {
    const total: BulkDeleteResult = { deleted: 0, notFound: 0, failures: [] };
    for (let i = 0; i < objects.length; i += batchSize) {
      const batch = objects.slice(i, i + batchSize);
      const body = batch.map((o) => `${o.name ? objectPath(o.container, o.name) : containerPath(o.container)}\n`).join('');
      const target = `${batch.length} objects`;
      const res = await this.send({
        operation: 'bulk delete',
        target,
        method: 'POST',
        path: '',
        query: { 'bulk-delete': '' },
        headers: { 'content-type': 'text/plain', accept: 'application/json' },
        body,
      });
      const result = parseBulkDeleteReply(target, res.statusCode, await readText(res));
      total.deleted += result.deleted;
      total.notFound += result.notFound;
      total.failures.push(...result.failures);
    }
    if (total.failures.length > 0) throw new SwiftBulkDeleteError(total);
    return total;
  }

  /** The cluster's capabilities (`GET /info`, no auth). */
  async info(): Promise<Record<string, unknown>> {
    const storage = new URL(await this.storageUrl());
    const res = await this.withRetries('GET', '/info', async () => {
      const r = await request(`${storage.origin}/info`, { dispatcher: this.dispatcher });
      if (r.statusCode !== 200) {
        await r.body.dump();
        throw statusError('GET', '/info', r.statusCode, 'info');
      }
      return r;
    });
    try {
      return (await res.body.json()) as Record<string, unknown>;
    } catch {
      throw new SwiftProtocolError('GET', '/info', res.statusCode, 'reply is not JSON');
    }
  }

  // ---- transport --------------------------------------------------------------------------------

  private send(call: Call): Promise<Dispatcher.ResponseData<unknown>> {
    return this.withRetries(call.operation, call.target, () =>
      this.open(call.method, call.target, call.path, call.headers ?? {}, call.body, call.query, call.operation, call.signal),
    );
  }

  /** One attempt of a request whose reply is read whole (bufferedRequest): the 2xx reply or its error. */
  private bufferedAttempt(
    operation: string,
    target: string,
    call: { method: Dispatcher.HttpMethod; path: string; headers: Record<string, string>; body?: Uint8Array; settledByHeaders?: boolean },
    memory?: BodyMemory,
  ): Promise<BufferedResponse> {
    return this.withToken(
      operation,
      target,
      (session) =>
        bufferedRequest(this.dispatcher, { ...call, url: session.storageUrl + call.path, headers: { ...call.headers, 'x-auth-token': session.token } }, memory),
      async (res) => res.body.toString('utf8', 0, Math.min(200, res.body.length)),
    );
  }

  /** One attempt of a request whose reply body streams: the 2xx reply or its error. */
  private open(
    method: Dispatcher.HttpMethod,
    target: string,
    path: string,
    headers: Record<string, string>,
    body?: ObjectBody | string,
    query?: Record<string, string | undefined>,
    operation: string = method,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData<unknown>> {
    return this.withToken(
      operation,
      target,
      (session) =>
        request(session.storageUrl + path + queryString(query), {
          method,
          headers: { ...headers, 'x-auth-token': session.token },
          body: typeof body === 'function' ? body() : body,
          dispatcher: this.dispatcher,
          signal,
        }),
      (res) => readText(res).catch(() => ''),
    );
  }

  /**
   * Sends with the cached token, and once more with a new one if Swift says 401; returns a 2xx reply, throws the error its
   * status maps to otherwise (with the start of the reply's text, read by `textOf`, for a 4xx or 5xx).
   */
  private async withToken<R extends { statusCode: number }>(
    operation: string,
    target: string,
    send: (session: SwiftSession) => Promise<R>,
    textOf: (reply: R) => Promise<string>,
  ): Promise<R> {
    for (let reauthenticated = false; ; reauthenticated = true) {
      const session = await this.tokens.session();
      const res = await send(session);
      if (res.statusCode >= 200 && res.statusCode < 300) return res;
      const detail = res.statusCode >= 400 ? (await textOf(res)).slice(0, 200).trim() : '';
      if (res.statusCode === 401 && !reauthenticated) {
        this.tokens.invalidate(session.token);
        continue;
      }
      throw statusError(operation, target, res.statusCode, detail);
    }
  }

  /** Every body is bytes or a stream factory, so every attempt can be repeated. */
  private async withRetries<T>(operation: string, target: string, attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        const transient = error instanceof SwiftUnavailableError || (!(error instanceof SwiftError) && isTransientNetworkError(error));
        if (!transient || n >= this.retry.retries) {
          if (error instanceof SwiftError) throw error;
          const message = (error as Error).message;
          throw transient ? new SwiftUnavailableError(operation, target, undefined, `${message} (after ${n + 1} attempts)`) : error;
        }
        await sleep(backoffDelay(this.retry, n));
      }
    }
  }
}

/** Per-item failures of a bulk delete (the reply was HTTP 200). */
export class SwiftBulkDeleteError extends SwiftError {
  constructor(readonly result: BulkDeleteResult) {
    const first = result.failures
      .slice(0, 3)
      .map((f) => `${f.path} → ${f.status}`)
      .join(', ');
    super('bulk delete', `${result.failures.length} objects`, 200, `items failed: ${first}${result.failures.length > 3 ? ', …' : ''}`);
  }
}

function statusError(operation: string, target: string, status: number, detail: string): SwiftError {
  const text = detail || 'no detail';
  if (status >= 500 || status === 408) return new SwiftUnavailableError(operation, target, status, text);
  switch (status) {
    case 401:
    case 403:
      return new SwiftAuthError(operation, target, status, text);
    case 404:
      return new SwiftNotFoundError(operation, target, status, 'not found');
    case 409:
      return new SwiftConflictError(operation, target, status, text);
    case 412:
      return new SwiftObjectExistsError(operation, target, status, 'already exists (write-once)');
    case 422:
      return new SwiftChecksumError(operation, target, status, 'Swift computed a different MD5 than the ETag sent');
    default:
      return new SwiftRequestError(operation, target, status, text);
  }
}

async function readText(res: Dispatcher.ResponseData<unknown>): Promise<string> {
  return res.body.text();
}

function containerPath(container: string): string {
  if (!container || container.includes('/')) throw new TypeError(`invalid Swift container name: ${JSON.stringify(container)}`);
  return `/${encodeURIComponent(container)}`;
}

function objectPath(container: string, name: string): string {
  if (!name) throw new TypeError('a Swift object name cannot be empty');
  const encoded = name.split('/').map(encodeURIComponent).join('/');
  return `${container ? containerPath(container) : ''}/${encoded}`;
}

function listQuery(options: ListOptions): Record<string, string | undefined> {
  return {
    format: 'json',
    prefix: options.prefix,
    marker: options.marker,
    delimiter: options.delimiter,
    limit: options.limit === undefined ? undefined : String(options.limit),
  };
}

function queryString(query?: Record<string, string | undefined>): string {
  if (!query) return '';
  const parts = Object.entries(query)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`));
  return parts.length ? `?${parts.join('&')}` : '';
}

function rangeHeaders(range?: ByteRange): Record<string, string> {
  if (!range) return {};
  if (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.offset < 0 || range.length <= 0) {
    throw new RangeError(`invalid byte range ${range.offset}+${range.length}`);
  }
  return { range: `bytes=${range.offset}-${range.offset + range.length - 1}` };
}

function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"(.*)"$/, '$1');
}

/** An object's X-Object-Meta-* headers, keys lower-cased without the prefix. */
function objectMetadata(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith('x-object-meta-') && value !== undefined) metadata[key.slice(14)] = String(value);
  }
  return metadata;
}
