import { Dispatcher } from 'undici';
import { IncomingHttpHeaders } from 'undici/types/header';

export interface BufferedResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A GET read straight into memory through undici's dispatch handler: no stream objects per reply. It keeps
 * up with keep-alive curl where `request()` + a body stream costs ~15% on small objects (docs/benchmarks.md).
 */
export function bufferedGet(dispatcher: Dispatcher, url: string, headers: Record<string, string>): Promise<BufferedResponse> {
  const { origin, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let statusCode = 0;
    const responseHeaders: IncomingHttpHeaders = {};
    // the classic handler interface: undici 7's core still requires it for plain dispatch
    const handler = {
      onConnect() {
        // nothing to set up per connection
      },
      onError(error: Error) {
        reject(error);
      },
      onHeaders(status: number, raw: Buffer[]) {
        statusCode = status;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const key = raw[i].toString('latin1').toLowerCase();
          const value = raw[i + 1].toString('latin1');
          const existing = responseHeaders[key];
          responseHeaders[key] = existing === undefined ? value : ([] as string[]).concat(existing, value);
        }
        return true;
      },
      onData(chunk: Buffer) {
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        resolve({ statusCode, headers: responseHeaders, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
      },
    };
    dispatcher.dispatch({ origin, path: pathname + search, method: 'GET', headers }, handler as unknown as Dispatcher.DispatchHandler);
  });
}
