import { CliError } from '../cli-error';

/** The local project's token (docs/configuration.md), so a fresh development `npm start` needs no setup. */
export const DEFAULT_TOKEN = 'island-dev-token';
const KEYSTONE_TIMEOUT_MS = 30_000;

/** How the CLI proves who it is to the API. */
export interface Credentials {
  /** Headers that authenticate a request. */
  headers(): Promise<Record<string, string>>;
  /** The API's URL from the identity service's catalog, when the credentials come with one. */
  catalogEndpoint(): Promise<string | undefined>;
  /** True when the environment named none and the local development token stands in. */
  readonly unset?: boolean;
}

/** A static bearer token (development mode: ISLAND_TOKEN). */
export class StaticToken implements Credentials {
  constructor(
    private readonly token: string,
    readonly unset = false,
  ) {}

  headers(): Promise<Record<string, string>> {
    return Promise.resolve({ authorization: `Bearer ${this.token}` });
  }

  catalogEndpoint(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }
}

/** A Keystone token the user already has (OS_TOKEN). */
export class KeystoneToken implements Credentials {
  constructor(private readonly token: string) {}

  headers(): Promise<Record<string, string>> {
    return Promise.resolve({ 'x-auth-token': this.token });
  }

  catalogEndpoint(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }
}

export interface PasswordAuth {
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  /** A domain by name ({ name }) or by id ({ id }), as OS_*_DOMAIN_NAME or OS_*_DOMAIN_ID give it. */
  userDomain: { name: string } | { id: string };
  projectDomain: { name: string } | { id: string };
  region?: string;
}

interface CatalogEntry {
  type?: string;
  endpoints?: Array<{ interface?: string; region?: string; region_id?: string; url?: string }>;
}

/** Keystone v3 password authentication scoped to a project, as the `openstack` client does (OS_* variables). */
export class KeystonePassword implements Credentials {
  private issued?: Promise<{ token: string; catalog: CatalogEntry[] }>;

  constructor(private readonly auth: PasswordAuth) {}

  async headers(): Promise<Record<string, string>> {
    return { 'x-auth-token': (await this.issue()).token };
  }

  /** The public endpoint of the `island` service (in OS_REGION_NAME when set). */
  async catalogEndpoint(): Promise<string | undefined> {
    const { catalog } = await this.issue();
    const endpoints = catalog
      .filter((s) => s.type === 'island')
      .flatMap((s) => s.endpoints ?? [])
      .filter((e) => e.interface === 'public' && typeof e.url === 'string')
      .filter((e) => !this.auth.region || e.region_id === this.auth.region || e.region === this.auth.region);
    return endpoints[0]?.url?.replace(/\/+$/, '');
  }

  private issue(): Promise<{ token: string; catalog: CatalogEntry[] }> {
    this.issued ??= this.request();
    return this.issued;
  }

  private async request(): Promise<{ token: string; catalog: CatalogEntry[] }> {
    const { authUrl, username, password, projectName, userDomain, projectDomain } = this.auth;
    // OS_AUTH_URL is often given without its version (…:5000, …/identity): the v3 API is below it
    const base = authUrl.replace(/\/+$/, '');
    const url = `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: username, domain: userDomain, password } } },
        scope: { project: { name: projectName, domain: projectDomain } },
      },
    };
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(KEYSTONE_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(`cannot reach Keystone at ${authUrl} (${cause}); check OS_AUTH_URL`);
    }
    const token = response.headers.get('x-subject-token');
    if (response.status === 401)
      throw new CliError(
        `Keystone at ${authUrl} refused user ${username} in project ${projectName} (HTTP 401): check OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME and the domains`,
      );
    if (!response.ok || !token) throw new CliError(`Keystone at ${authUrl} did not issue a token (HTTP ${response.status})`);
    const reply = (await response.json().catch(() => ({}))) as { token?: { catalog?: CatalogEntry[] } };
    return { token, catalog: Array.isArray(reply.token?.catalog) ? reply.token.catalog : [] };
  }
}

/**
 * The credentials the environment names: ISLAND_TOKEN (a static token, development mode), else OS_TOKEN, else
 * OS_AUTH_URL with OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME (domains: OS_USER_DOMAIN_NAME,
 * OS_PROJECT_DOMAIN_NAME, "Default" when unset), else the local development token.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials {
  if (env.ISLAND_TOKEN) return new StaticToken(env.ISLAND_TOKEN);
  if (env.OS_TOKEN) return new KeystoneToken(env.OS_TOKEN);
  if (env.OS_AUTH_URL) {
    const missing = ['OS_USERNAME', 'OS_PASSWORD', 'OS_PROJECT_NAME'].filter((name) => !env[name]);
    if (missing.length > 0) throw new CliError(`OS_AUTH_URL is set but ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not (or set OS_TOKEN)`);
    return new KeystonePassword({
      authUrl: env.OS_AUTH_URL,
      username: env.OS_USERNAME as string,
      password: env.OS_PASSWORD as string,
      projectName: env.OS_PROJECT_NAME as string,
      userDomain: domainOf(env.OS_USER_DOMAIN_NAME, env.OS_USER_DOMAIN_ID),
      projectDomain: domainOf(env.OS_PROJECT_DOMAIN_NAME, env.OS_PROJECT_DOMAIN_ID),
      ...(env.OS_REGION_NAME && { region: env.OS_REGION_NAME }),
    });
  }
  return new StaticToken(DEFAULT_TOKEN, true);
}

/** A domain by name, else by id, else the default domain (by name, as the openstack client does). */
function domainOf(name: string | undefined, id: string | undefined): { name: string } | { id: string } {
  if (name) return { name };
  if (id) return { id };
  return { name: 'Default' };
}
