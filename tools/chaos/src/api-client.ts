import { IslandStack } from '@island/stack';

type Json = Record<string, unknown>;
export type Answer<T = Json> = { status: number; body: T };

/** How long a request rides out an API that is down (killed and restarting, or its database restarting). */
const UNREACHABLE_FOR_MS = 120_000;

/**
 * The chaos suite's REST client: the stack's requests, retried while the API cannot answer (connection refused,
 * 502–504) as a careful user's client would — a change only when it cannot have happened; what the API does answer
 * is returned as it is.
 */
export class ChaosApi {
  /** Answers no API should give (a 500: an error nobody foresaw), each a finding of the run. */
  readonly unexpected: string[] = [];

  constructor(private readonly island: IslandStack) {}

  async request<T = Json>(method: string, path: string, body?: object, token?: string): Promise<Answer<T>> {
    const deadline = Date.now() + UNREACHABLE_FOR_MS;
    for (;;) {
      try {
        const answer = await this.island.request<T>(method, path, body, token);
        if (answer.status === 500) this.unexpected.push(`${method} ${path} → 500 ${JSON.stringify(answer.body)}`);
        const unavailable = answer.status >= 502 && answer.status <= 504;
        // a change is asked again only when the API says it did not happen: a cut under it may have let it through
        const safeToRepeat = method === 'GET' || !/may or may not have taken effect/.test(JSON.stringify(answer.body));
        if (!unavailable || !safeToRepeat || Date.now() > deadline) return answer;
      } catch (error) {
        // the API down (refused) never saw the request; one that died under it may have acted on it
        const refused = (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
        if (method !== 'GET' && !refused) throw new Error(`${method} ${path}: the API went away during the request (${String(error)})`);
        if (Date.now() > deadline) throw new Error(`${method} ${path}: the API did not answer for ${UNREACHABLE_FOR_MS / 1000} s (${String(error)})`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** A request that must succeed with one of `expected` statuses. */
  async must<T = Json>(method: string, path: string, body: object | undefined, expected: number[], token?: string): Promise<T> {
    const answer = await this.request<T>(method, path, body, token);
    if (!expected.includes(answer.status)) throw new Error(`${method} ${path} → ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /** Every item of a list route (`{ [key]: items, nextMarker }` a page), following its pages. */
  async all(path: string, key: string, token?: string): Promise<Json[]> {
    const items: Json[] = [];
    for (let marker: string | null = null; ;) {
      const page: Json = await this.must<Json>(
        'GET',
        marker === null ? path : `${path}${path.includes('?') ? '&' : '?'}marker=${marker}`,
        undefined,
        [200],
        token,
      );
      items.push(...(page[key] as Json[]));
      marker = (page.nextMarker as string | null | undefined) ?? null;
      if (marker === null) return items;
    }
  }

  /** GETs `path` until `done` holds; a 404 is given to `done` as { status: 'gone' }; other failed GETs are asked again. */
  async until<T extends Json = Json>(path: string, done: (body: T) => boolean, what: string, timeoutMs: number, token?: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.request<T>('GET', path, undefined, token);
      const body = answer.status === 404 ? ({ status: 'gone' } as unknown as T) : answer.body;
      if ((answer.status === 200 || answer.status === 404) && done(body)) return body;
      if (Date.now() > deadline) throw new Error(`${what}: not over after ${timeoutMs / 1000} s: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
