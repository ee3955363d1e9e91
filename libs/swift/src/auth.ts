import { Dispatcher, request } from 'undici';
import { IncomingHttpHeaders } from 'undici/types/header';
import { SwiftAuthError, SwiftProtocolError, SwiftUnavailableError } from './swift-errors';

/** What a successful authentication yields: a token and the account URL it is valid for. */
export interface SwiftSession {
  token: string;
  /** e.g. http://127.0.0.1:8080/v1/AUTH_test (no trailing slash) */
  storageUrl: string;
  /** Epoch milliseconds; undefined when the auth service did not say. */
  expiresAt?: number;
}

/** One way of obtaining a token (tempauth v1, Keystone v3). */
export interface SwiftAuthenticator {
  readonly description: string;
  authenticate(dispatcher: Dispatcher, timeoutMs: number): Promise<SwiftSession>;
}

/** tempauth / swauth style v1.0: GET the auth URL with X-Auth-User and X-Auth-Key. */
export class TempAuth implements SwiftAuthenticator {
  readonly description: string;

  constructor(
    private readonly authUrl: string,
    private readonly user: string,
    private readonly key: string,
  ) {
    this.description = `tempauth ${user} at ${authUrl}`;
  }

  async authenticate(dispatcher: Dispatcher, timeoutMs: number): Promise<SwiftSession> {
    const res = await authRequest(this.description, this.authUrl, {
      method: 'GET',
      headers: { 'x-auth-user': this.user, 'x-auth-key': this.key },
      dispatcher,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump();
    const token = header(res.headers, 'x-auth-token');
    const storageUrl = header(res.headers, 'x-storage-url');
    if (!token || !storageUrl) {
      throw new SwiftProtocolError('auth', this.description, res.statusCode, 'reply lacks X-Auth-Token or X-Storage-Url');
    }
    const expires = Number(header(res.headers, 'x-auth-token-expires'));
    return {
      token,
      storageUrl: storageUrl.replace(/\/+$/, ''),
      expiresAt: Number.isFinite(expires) && expires > 0 ? Date.now() + expires * 1000 : undefined,
    };
  }
}

export interface KeystoneOptions {
  /** Identity endpoint including the version, e.g. http://keystone:5000/v3 */
  authUrl: string;
  user: string;
  password: string;
  project: string;
  /** User and project domain name; "Default" when not given. */
  domain?: string;
  /** Which object-store endpoint of the catalog to use; the only one when not given. */
  region?: string;
  /** Endpoint interface; "public" by default. */
  interface?: 'public' | 'internal' | 'admin';
}

interface CatalogEndpoint {
  interface?: string;
  region?: string;
  region_id?: string;
  url?: string;
}

/** Keystone v3 password authentication scoped to a project; the Swift URL comes from the service catalog. */
export class KeystoneV3Auth implements SwiftAuthenticator {
  readonly description: string;

  constructor(private readonly options: KeystoneOptions) {
    this.description = `keystone ${options.user}@${options.project} at ${options.authUrl}`;
  }

  async authenticate(dispatcher: Dispatcher, timeoutMs: number): Promise<SwiftSession> {
    const domain = { name: this.options.domain ?? 'Default' };
    const body = JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: this.options.user, domain, password: this.options.password } },
        },
        scope: { project: { name: this.options.project, domain } },
      },
    });
    const res = await authRequest(this.description, `${this.options.authUrl.replace(/\/+$/, '')}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      dispatcher,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const token = header(res.headers, 'x-subject-token');
    let reply: unknown;
    try {
      reply = await res.body.json();
    } catch {
      throw new SwiftProtocolError('auth', this.description, res.statusCode, 'token reply is not JSON');
    }
    const tokenBody = (reply as { token?: { expires_at?: string; catalog?: unknown } } | null)?.token;
    if (!token || !tokenBody) {
      throw new SwiftProtocolError('auth', this.description, res.statusCode, 'reply lacks X-Subject-Token or token');
    }
    const storageUrl = this.pickEndpoint(tokenBody.catalog);
    const expiresAt = tokenBody.expires_at ? Date.parse(tokenBody.expires_at) : NaN;
    return { token, storageUrl, expiresAt: Number.isFinite(expiresAt) ? expiresAt : undefined };
  }

  private pickEndpoint(catalog: unknown): string {
    const wantedInterface = this.options.interface ?? 'public';
    const services = Array.isArray(catalog) ? (catalog as { type?: string; endpoints?: CatalogEndpoint[] }[]) : [];
    const endpoints = services
      .filter((s) => s.type === 'object-store')
      .flatMap((s) => (Array.isArray(s.endpoints) ? s.endpoints : []))
      .filter((e) => e.interface === wantedInterface && typeof e.url === 'string')
      .filter((e) => !this.options.region || e.region_id === this.options.region || e.region === this.options.region);
    if (endpoints.length !== 1) {
      const where = this.options.region ? ` in region ${this.options.region}` : '';
      throw new SwiftProtocolError(
        'auth',
        this.description,
        undefined,
        `the catalog has ${endpoints.length} ${wantedInterface} object-store endpoints${where}; exactly one is needed`,
      );
    }
    return (endpoints[0].url as string).replace(/\/+$/, '');
  }
}

async function authRequest(description: string, url: string, options: Parameters<typeof request>[1]): Promise<Dispatcher.ResponseData<unknown>> {
  let res: Dispatcher.ResponseData<unknown>;
  try {
    res = await request(url, options);
  } catch (error) {
    throw new SwiftUnavailableError('auth', description, undefined, (error as Error).message);
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return res;
  await res.body.dump();
  if (res.statusCode >= 500) throw new SwiftUnavailableError('auth', description, res.statusCode, 'auth service failed');
  throw new SwiftAuthError('auth', description, res.statusCode, 'credentials refused');
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
