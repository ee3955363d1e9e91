import { Dispatcher } from 'undici';
import { IncomingHttpHeaders } from 'undici/types/header';

export interface BufferedResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Memory for a successful reply's body of the length its Content-Length states (e.g. a buffer lent out for reuse). */
export type BodyMemory = (length: number) => Buffer;

/** A request whose reply is read whole into memory. */
export interface BufferedRequest {
  method: Dispatcher.HttpMethod;
  url: string;
  headers: Record<string, string>;
  /** Bytes sent as they are; resent as they are by a retry. */
  body?: Uint8Array;
  /**
   * A 2xx reply is the outcome once its headers arrive: a body that fails after them is not an error (a PUT's few bytes
   * of reply say nothing its status and ETag do not), as undici's `dump()` of such a body never failed.
   */
  settledByHeaders?: boolean;
}

/**
 * A request whose reply is read straight into memory through undici's dispatch handler: no stream objects per reply
 * (a block's GET, the PUT of bytes in memory, whose reply is a few bytes). It keeps up with keep-alive curl where
 * `request()` + a body stream costs ~15% on small objects (docs/benchmarks.md). With `memory`, a 2xx body of known
 * length is copied into what it gives as it arrives instead of being joined from its chunks at the end; a body longer
 * than it said is joined as usual, one shorter is returned short (the caller compares it with Content-Length).
 */
export function bufferedRequest(dispatcher: Dispatcher, request: BufferedRequest, memory?: BodyMemory): Promise<BufferedResponse> {
  const { method, url, headers, body, settledByHeaders = false } = request;
  const { origin, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let into: Buffer | undefined;
    let filled = 0;
    let statusCode = 0;
    const responseHeaders: IncomingHttpHeaders = {};
    // the classic handler interface: undici 7's core still requires it for plain dispatch
    const handler = {
      onConnect() {
        // nothing to set up per connection
      },
      onError(error: Error) {
        if (settledByHeaders && statusCode >= 200 && statusCode < 300) resolve({ statusCode, headers: responseHeaders, body: Buffer.alloc(0) });
        else reject(error);
      },
      onHeaders(status: number, raw: Buffer[]) {
        if (status < 200) return true; // an informational reply (e.g. 103 Early Hints): the final one follows
        statusCode = status;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const key = raw[i].toString('latin1').toLowerCase();
          const value = raw[i + 1].toString('latin1');
          const existing = responseHeaders[key];
          responseHeaders[key] = existing === undefined ? value : ([] as string[]).concat(existing, value);
        }
        const length = Number(responseHeaders['content-length']);
        if (memory && status >= 200 && status < 300 && Number.isSafeInteger(length) && length > 0) into = memory(length);
        return true;
      },
      onData(chunk: Buffer) {
        if (into && filled + chunk.length <= into.length) {
          filled += chunk.copy(into, filled);
        } else {
          if (into) chunks = [into.subarray(0, filled)];
          into = undefined;
          chunks.push(chunk);
        }
        return true;
      },
      onComplete() {
        const whole = into && filled === into.length ? into : into?.subarray(0, filled);
        resolve({ statusCode, headers: responseHeaders, body: whole ?? (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)) });
      },
    };
    dispatcher.dispatch({ origin, path: pathname + search, method, headers, body }, handler as unknown as Dispatcher.DispatchHandler);
  });
}
