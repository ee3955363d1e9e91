import { randomBytes } from 'node:crypto';
import type { KeystoneConfig } from '@island/config';
import { Dispatcher, request } from 'undici';
import { Kek, KekSource } from './kek-source';
import { KEK_BYTES, kekId } from './key-wrapping';

const TIMEOUT_MS = 30_000;
/** Barbican's default max_limit_paging: a longer page is cut to it. */
const PAGE_SIZE = 100;
/** A token is renewed this long before Keystone says it expires (or at 90% of a shorter life). */
const TOKEN_RENEWAL_MS = 60_000;

export interface BarbicanKekOptions {
  /** The Keystone user island authenticates as; its project owns the secrets. */
  keystone: Pick<KeystoneConfig, 'url' | 'user' | 'password' | 'project' | 'domain'>;
  /** Barbican's root, e.g. http://127.0.0.1:9311; by default the public key-manager endpoint of the token's catalog. */
  url?: string;
  /** Every KEK is a secret of this name. */
  secretName: string;
}

/** Barbican or Keystone refused or failed a request; the message says which request, where, and what was answered. */
export class BarbicanKekError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'BarbicanKekError';
  }
}

interface Session {
  token: string;
  barbicanUrl: string;
  renewAt: number;
}

/** A secret of the listing: its URL and when it was stored (ISO 8601, microseconds). */
interface SecretEntry {
  ref: string;
  created: string;
}

/** What Barbican lists of a secret, as far as it is used here. */
interface ListedSecret {
  secret_ref?: unknown;
  name?: unknown;
  status?: unknown;
  created?: unknown;
}

interface Reply {
  status: number;
  body: Buffer;
}

/**
 * KEKs kept in OpenStack Barbican: each one a symmetric secret named `secretName` in the project island
 * authenticates to, the newest ACTIVE one current. The first `current()` stores one when there is none. Payloads
 * are kept in memory once read (a secret's payload never changes); a KEK this process does not hold sends it back
 * to Barbican's listing, so rotations and retirements by other processes reach it.
 */
export class BarbicanKekSource implements KekSource {
  private session?: Promise<Session>;
  private knownUrl?: string;
  /** secret ref → its KEK */
  private readonly payloads = new Map<string, Kek>();

  constructor(private readonly options: BarbicanKekOptions) {
    this.knownUrl = options.url ? barbicanRoot(options.url) : undefined;
  }

  get description(): string {
    const where = this.knownUrl ?? `the key-manager endpoint of ${this.options.keystone.url}`;
    return `Barbican secret "${this.options.secretName}" at ${where}`;
  }

  async current(): Promise<Kek> {
    let [newest] = await this.list();
    if (!newest) {
      await this.store();
      // listed again, not taken as stored: of two processes starting together, both then use the newer secret
      [newest] = await this.list();
      if (!newest) throw new BarbicanKekError(`${this.description}: a secret was stored but is not listed`);
    }
    return this.kekOf(newest);
  }

  async find(id: string): Promise<Kek | undefined> {
    const held = [...this.payloads.values()].find((k) => k.id === id);
    if (held) return held;
    const keks = await this.keksOf(await this.list());
    return keks.find((k) => k.id === id);
  }

  async rotate(): Promise<Kek> {
    return this.store();
  }

  async retireAllBut(keep: string): Promise<string[]> {
    const entries = await this.list();
    const keks = await this.keksOf(entries);
    if (!keks.some((k) => k.id === keep)) throw new BarbicanKekError(`${this.description} does not hold KEK ${keep}: nothing retired`);
    const retired: string[] = [];
    for (const [i, entry] of entries.entries()) {
      if (keks[i].id === keep) continue;
      // 404: another process retired it meanwhile
      await this.call('DELETE', entry.ref, `deleting secret ${entry.ref}`, [204, 404]);
      this.payloads.delete(entry.ref);
      retired.push(keks[i].id);
    }
    return retired;
  }

  /** The ACTIVE secrets of the name, newest first. */
  private async list(): Promise<SecretEntry[]> {
    const found: SecretEntry[] = [];
    const name = encodeURIComponent(this.options.secretName);
    for (let offset = 0; ; offset += PAGE_SIZE) {
      const path = `/v1/secrets?name=${name}&sort=created:desc&limit=${PAGE_SIZE}&offset=${offset}`;
      const reply = await this.call('GET', path, 'listing secrets', [200]);
      const page = this.parse(reply, 'listing secrets') as { secrets?: unknown; next?: string };
      const secrets = Array.isArray(page.secrets) ? (page.secrets as ListedSecret[]) : [];
      for (const s of secrets) {
        // Barbican matches the name with SQL LIKE: "_" and "%" in it match other names too
        if (s.name === this.options.secretName && s.status === 'ACTIVE' && typeof s.secret_ref === 'string') {
          found.push({ ref: s.secret_ref, created: String(s.created ?? '') });
        }
      }
      if (!page.next || secrets.length === 0) break;
    }
    const listed = new Set(found.map((s) => s.ref));
    for (const ref of this.payloads.keys()) if (!listed.has(ref)) this.payloads.delete(ref);
    return found.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  private async keksOf(entries: SecretEntry[]): Promise<Kek[]> {
    return Promise.all(entries.map((e) => this.kekOf(e)));
  }

  private async kekOf(entry: SecretEntry): Promise<Kek> {
    const held = this.payloads.get(entry.ref);
    if (held) return held;
    const reply = await this.call('GET', `${entry.ref}/payload`, `reading the payload of secret ${entry.ref}`, [200], {
      accept: 'application/octet-stream',
    });
    if (reply.body.length !== KEK_BYTES) {
      throw new BarbicanKekError(`${this.description}: secret ${entry.ref} holds ${reply.body.length} bytes, not a ${KEK_BYTES}-byte KEK`);
    }
    const kek = { id: kekId(reply.body), key: reply.body };
    this.payloads.set(entry.ref, kek);
    return kek;
  }

  private async store(): Promise<Kek> {
    const key = randomBytes(KEK_BYTES);
    const body = JSON.stringify({
      name: this.options.secretName,
      secret_type: 'symmetric',
      algorithm: 'aes',
      bit_length: KEK_BYTES * 8,
      mode: 'gcm',
      payload: key.toString('base64'),
      payload_content_type: 'application/octet-stream',
      payload_content_encoding: 'base64',
    });
    const reply = await this.call('POST', '/v1/secrets', 'storing a new secret', [201], { 'content-type': 'application/json' }, body);
    const ref = (this.parse(reply, 'storing a new secret') as { secret_ref?: unknown }).secret_ref;
    if (typeof ref !== 'string') throw new BarbicanKekError(`${this.description}: storing a new secret answered no secret_ref`);
    const kek = { id: kekId(key), key };
    this.payloads.set(ref, kek);
    return kek;
  }

  /**
   * One request to Barbican with a valid token: `target` is a path under Barbican's root or a secret ref. A 401
   * (a token revoked before its expiry) is retried once with a new token.
   */
  private async call(
    method: Dispatcher.HttpMethod,
    target: string,
    what: string,
    expected: number[],
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.authenticated();
      const url = target.startsWith('/') ? `${session.barbicanUrl}${target}` : target;
      const reply = await send(
        url,
        { method, headers: { accept: 'application/json', ...headers, 'x-auth-token': session.token }, body },
        () => `${what}: ${this.description} did not answer`,
      );
      if (reply.status === 401 && attempt === 1) {
        this.session = undefined;
        continue;
      }
      if (expected.includes(reply.status)) return reply;
      throw new BarbicanKekError(`${what}: ${this.description} answered HTTP ${reply.status}${problem(reply)}`, reply.status);
    }
  }

  private parse(reply: Reply, what: string): object {
    try {
      const parsed: unknown = JSON.parse(reply.body.toString('utf8'));
      if (parsed && typeof parsed === 'object') return parsed;
    } catch {
      // reported below
    }
    throw new BarbicanKekError(`${what}: ${this.description} answered HTTP ${reply.status} with a body that is not a JSON object`);
  }

  private authenticated(): Promise<Session> {
    const current = this.session;
    if (current) {
      return current.then((s) => (Date.now() < s.renewAt ? s : this.renew()));
    }
    return this.renew();
  }

  private renew(): Promise<Session> {
    const session = this.authenticate();
    this.session = session;
    session.catch(() => {
      if (this.session === session) this.session = undefined;
    });
    return session;
  }

  /** Keystone v3 password authentication scoped to the project; Barbican's URL from the catalog unless given. */
  private async authenticate(): Promise<Session> {
    const { url, user, password, project, domain } = this.options.keystone;
    const who = `Keystone at ${url}, user "${user}" of project "${project}"`;
    const body = JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: domain }, password } } },
        scope: { project: { name: project, domain: { name: domain } } },
      },
    });
    const reply = await send(
      `${url.replace(/\/+$/, '')}/auth/tokens`,
      { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body },
      () => `authenticating with ${who}: no answer`,
    );
    if (reply.status !== 201) {
      throw new BarbicanKekError(`authenticating with ${who}: HTTP ${reply.status}${problem(reply)}`, reply.status);
    }
    let tokenBody: { expires_at?: string; catalog?: unknown } | undefined;
    try {
      tokenBody = (JSON.parse(reply.body.toString('utf8')) as { token?: typeof tokenBody }).token;
    } catch {
      tokenBody = undefined;
    }
    const token = reply.token;
    if (!token || !tokenBody) throw new BarbicanKekError(`authenticating with ${who}: the reply lacks X-Subject-Token or a token`);
    const barbicanUrl = this.knownUrl ?? barbicanRoot(keyManagerEndpoint(tokenBody.catalog, who));
    this.knownUrl = barbicanUrl;
    const now = Date.now();
    const expiresAt = tokenBody.expires_at ? Date.parse(tokenBody.expires_at) : NaN;
    const life = Number.isFinite(expiresAt) ? expiresAt - now : 0;
    return { token, barbicanUrl, renewAt: now + Math.max(0, life - TOKEN_RENEWAL_MS, life * 0.9) };
  }
}

/** The catalog's public key-manager URL; more than one distinct URL (regions) needs the `url` option instead. */
function keyManagerEndpoint(catalog: unknown, who: string): string {
  const services = Array.isArray(catalog) ? (catalog as { type?: string; endpoints?: { interface?: string; url?: string }[] }[]) : [];
  const urls = new Set(
    services
      .filter((s) => s.type === 'key-manager')
      .flatMap((s) => (Array.isArray(s.endpoints) ? s.endpoints : []))
      .filter((e) => e.interface === 'public' && typeof e.url === 'string')
      .map((e) => e.url as string),
  );
  if (urls.size !== 1) {
    const listed = urls.size > 1 ? ` (${[...urls].join(', ')}): give Barbican's URL` : ': is Barbican registered there?';
    throw new BarbicanKekError(`the catalog of ${who} has ${urls.size} public key-manager endpoints${listed}`);
  }
  return [...urls][0];
}

/** Barbican's root without a trailing slash or /v1 (endpoints are registered either way). */
function barbicanRoot(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/v1$/, '');
}

interface ErrorBody {
  title?: unknown;
  /** Barbican's */
  description?: unknown;
  /** Keystone's (and Barbican's authtoken's) */
  message?: unknown;
}

/** Barbican's {title, description} or Keystone's {error: {title, message}}, as ": title: description"; else nothing. */
function problem(reply: Reply): string {
  let parsed: (ErrorBody & { error?: ErrorBody }) | null;
  try {
    parsed = JSON.parse(reply.body.toString('utf8')) as typeof parsed;
  } catch {
    return '';
  }
  const error = parsed?.error ?? parsed ?? {};
  const parts = [error.title, error.description ?? error.message].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return parts.length ? `: ${parts.join(': ').slice(0, 300)}` : '';
}

/** One HTTP exchange, whole body read, within TIMEOUT_MS (and Keystone's X-Subject-Token); no answer is a BarbicanKekError. */
async function send(
  url: string,
  options: { method: Dispatcher.HttpMethod; headers: Record<string, string>; body?: string },
  failure: () => string,
): Promise<Reply & { token?: string }> {
  try {
    const res = await request(url, {
      ...options,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    const subject = res.headers['x-subject-token'];
    return { status: res.statusCode, body, token: Array.isArray(subject) ? subject[0] : subject };
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : (error as Error).message;
    throw new BarbicanKekError(`${failure()} (${reason})`);
  }
}
