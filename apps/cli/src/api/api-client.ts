import { ApiUnavailableError, CliError } from '../cli-error';
import { Credentials, credentialsFromEnv, StaticToken } from './credentials';

export const DEFAULT_API_URL = 'http://127.0.0.1:9660';
const NO_CREDENTIALS =
  'no credentials are set: set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME (or OS_TOKEN) as for the openstack client; ' +
  'on a machine running `npm start`: eval "$(scripts/services.sh env alice)"';

/**
 * A thin REST client: every failure becomes a CliError with the API's own message. The API's URL is
 * ISLAND_API_URL, else the identity service catalog's `island` endpoint, else the local default.
 */
export class ApiClient {
  private given?: Credentials;
  private resolvedUrl?: Promise<string>;

  constructor(
    private readonly explicitUrl: string | undefined = process.env.ISLAND_API_URL,
    credentials?: Credentials | string,
  ) {
    this.given = typeof credentials === 'string' ? new StaticToken(credentials) : credentials;
  }

  /** Read from the environment at the first request: a command that never calls the API needs none. */
  private get credentials(): Credentials {
    this.given ??= credentialsFromEnv();
    return this.given;
  }

  /** Where the API is (for messages and links). */
  baseUrl(): Promise<string> {
    this.resolvedUrl ??= this.explicitUrl ? Promise.resolve(this.explicitUrl) : this.credentials.catalogEndpoint().then((url) => url ?? DEFAULT_API_URL);
    return this.resolvedUrl;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: object = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: object): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /**
   * A binary answer (e.g. a snapshot block) with its headers; failures as for JSON requests. On undici's own request
   * API rather than fetch: an export reads thousands of megabytes through here, and fetch's web streams cost about
   * twice the CPU per megabyte.
   */
  async getBytes(path: string): Promise<{ data: Buffer; headers: Record<string, string | undefined> }> {
    const [baseUrl, auth] = await Promise.all([this.baseUrl(), this.credentials.headers()]);
    // loaded here, not with the CLI: undici takes ~65 ms to load, a third of every other command's run
    const { request: undiciRequest } = await import('undici');
    let response;
    try {
      response = await undiciRequest(`${baseUrl}${path}`, { method: 'GET', headers: auth, headersTimeout: 60_000, bodyTimeout: 60_000 });
    } catch (error) {
      throw this.unreachable(baseUrl, error);
    }
    if (response.statusCode >= 400) return this.failure('GET', path, response.statusCode, await response.body.text());
    const headers = Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]));
    return { data: Buffer.from(await response.body.arrayBuffer()), headers };
  }

  private async send(method: string, path: string, body?: object): Promise<Response> {
    const [baseUrl, auth] = await Promise.all([this.baseUrl(), this.credentials.headers()]);
    try {
      return await fetch(`${baseUrl}${path}`, {
        method,
        headers: { ...auth, ...(body && { 'content-type': 'application/json' }) },
        ...(body && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      throw this.unreachable(baseUrl, error);
    }
  }

  private unreachable(baseUrl: string, error: unknown): ApiUnavailableError {
    const e = error as { cause?: { code?: string }; code?: string; message: string };
    return new ApiUnavailableError(`cannot reach the island API at ${baseUrl} (${e.cause?.code ?? e.code ?? e.message}); is it running? (ISLAND_API_URL)`);
  }

  private async request<T>(method: string, path: string, body?: object): Promise<T> {
    const response = await this.send(method, path, body);
    const text = await response.text();
    if (!response.ok) return this.failure(method, path, response.status, text);
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      const Failure = [502, 503, 504].includes(response.status) ? ApiUnavailableError : CliError;
      throw new Failure(`${method} ${path}: the API answered ${response.status} with a body that is not JSON`);
    }
  }

  private failure(method: string, path: string, status: number, text: string): never {
    const Failure = [502, 503, 504].includes(status) ? ApiUnavailableError : CliError;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new Failure(`${method} ${path}: the API answered ${status} with a body that is not JSON`);
    }
    const message = (json as { message?: unknown }).message;
    const detail = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : text;
    const hint = status === 401 && this.credentials.unset ? `; ${NO_CREDENTIALS}` : '';
    throw new Failure(`${detail} (HTTP ${status})${hint}`);
  }
}
