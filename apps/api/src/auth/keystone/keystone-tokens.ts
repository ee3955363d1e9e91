import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { IslandConfig, KeystoneConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { IdentityUnavailableError, identityOf, KeystoneIdentity, TokenRefusedError } from './keystone-identity';

const TIMEOUT_MS = 5000;
/** Validations kept at most; the oldest go first. */
const MAX_CACHED = 10_000;
/** A refused token is answered from memory this long. */
const REFUSED_MS = 5000;
/** A service token is renewed this long before it expires. */
const RENEW_BEFORE_MS = 60_000;

/**
 * Validates users' tokens against Keystone as keystonemiddleware does: GET /v3/auth/tokens with island's own
 * service token (X-Auth-Token) and the user's (X-Subject-Token). A validation is reused until the token
 * expires or `cacheSeconds` pass, whichever comes first: a revoked token stops working within that bound.
 */
@Injectable()
export class KeystoneTokens {
  private readonly logger = new Logger('KeystoneTokens');
  private readonly keystone: KeystoneConfig | undefined;
  private readonly cache = new Map<string, { identity: KeystoneIdentity; until: number }>();
  /** Tokens Keystone refused a moment ago (a flood of bad tokens asks Keystone once each per REFUSED_MS). */
  private readonly refused = new Map<string, { error: TokenRefusedError; until: number }>();
  /** Validations in flight: concurrent requests with one token ask Keystone once. */
  private readonly asking = new Map<string, Promise<KeystoneIdentity>>();
  private service?: { token: string; expiresAt: number };
  private serviceRequest?: Promise<string>;

  constructor(@InjectConfig() config: IslandConfig) {
    this.keystone = config.auth.keystone;
  }

  private get settings(): KeystoneConfig {
    if (!this.keystone) throw new Error('Keystone is not configured (ISLAND_KEYSTONE_URL)');
    return this.keystone;
  }

  async validate(token: string): Promise<KeystoneIdentity> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.identity;
    this.cache.delete(key);
    const refused = this.refused.get(key);
    if (refused && refused.until > now) throw refused.error;
    this.refused.delete(key);
    let asking = this.asking.get(key);
    if (!asking) {
      asking = this.askKeystone(token).finally(() => this.asking.delete(key));
      this.asking.set(key, asking);
    }
    try {
      const identity = await asking;
      const until = Math.min(identity.expiresAt, now + this.settings.cacheSeconds * 1000);
      if (until > now) remember(this.cache, key, { identity, until });
      return identity;
    } catch (error) {
      if (error instanceof TokenRefusedError) remember(this.refused, key, { error, until: now + REFUSED_MS });
      throw error;
    }
  }

  private async askKeystone(token: string): Promise<KeystoneIdentity> {
    const res = await this.asService('/auth/tokens?nocatalog', { 'x-subject-token': token });
    if (res.status === 200) return identityOf(res.body);
    if (res.status === 404) throw new TokenRefusedError('the token is not valid (unknown, expired or revoked)');
    if (res.status === 401 || res.status === 403)
      throw new IdentityUnavailableError(`Keystone refused island's service user ${this.settings.user} (${res.status})`);
    throw new IdentityUnavailableError(`Keystone answered ${res.status} to a token validation`);
  }

  /**
   * A GET of Keystone's API (path under /v3) with island's service token; when Keystone refuses that token
   * (expired, revoked), once more with a new one. Throws IdentityUnavailableError when Keystone cannot be reached.
   */
  async asService(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
    const res = await this.call('GET', path, { ...headers, 'x-auth-token': await this.serviceToken(false) });
    if (res.status !== 401) return res;
    this.service = undefined;
    return this.call('GET', path, { ...headers, 'x-auth-token': await this.serviceToken(true) });
  }

  private serviceToken(renew: boolean): Promise<string> {
    if (!renew && this.service && this.service.expiresAt - RENEW_BEFORE_MS > Date.now()) return Promise.resolve(this.service.token);
    this.serviceRequest ??= this.issueServiceToken().finally(() => {
      this.serviceRequest = undefined;
    });
    return this.serviceRequest;
  }

  private async issueServiceToken(): Promise<string> {
    const { user, password, project, domain } = this.settings;
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: domain }, password } } },
        scope: { project: { name: project, domain: { name: domain } } },
      },
    };
    const res = await this.call('POST', '/auth/tokens', { 'content-type': 'application/json' }, JSON.stringify(body));
    const token = res.subjectToken;
    if (res.status !== 201 || !token) {
      throw new IdentityUnavailableError(`Keystone refused island's service user ${user} in project ${project} (${res.status})`);
    }
    const expiresAt = identityOf(res.body).expiresAt;
    this.service = { token, expiresAt };
    this.logger.log(`service token for ${user}@${project} until ${new Date(expiresAt).toISOString()}`);
    return token;
  }

  private async call(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; body: unknown; subjectToken?: string }> {
    try {
      const res = await request(`${this.settings.url}${path}`, {
        method,
        headers: { accept: 'application/json', ...headers },
        body,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
      const text = await res.body.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      const subject = res.headers['x-subject-token'];
      return { status: res.statusCode, body: parsed, subjectToken: Array.isArray(subject) ? subject[0] : subject };
    } catch (error) {
      throw new IdentityUnavailableError(`Keystone at ${this.settings.url} is unreachable: ${(error as Error).message}`);
    }
  }
}

/** Adds to a bounded map, dropping the oldest entry when it is full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_CACHED) map.delete(map.keys().next().value as string);
  map.set(key, value);
}
