import { CliError } from '../cli-error';

export const DEFAULT_API_URL = 'http://127.0.0.1:9660';
/** The local project's token (docs/configuration.md), so a fresh `npm start` needs no setup. */
export const DEFAULT_TOKEN = 'island-dev-token';

/** A thin REST client: every failure becomes a CliError with the API's own message. */
export class ApiClient {
  constructor(
    readonly baseUrl = process.env.ISLAND_API_URL ?? DEFAULT_API_URL,
    private readonly token = process.env.ISLAND_TOKEN ?? DEFAULT_TOKEN,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: object = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  private async request<T>(method: string, path: string, body?: object): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body && { 'content-type': 'application/json' }) },
        ...(body && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(`cannot reach the island API at ${this.baseUrl} (${cause}); is it running? (ISLAND_API_URL)`);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`${method} ${path}: the API answered ${response.status} with a body that is not JSON`);
    }
    if (!response.ok) {
      const message = (json as { message?: unknown }).message;
      const detail = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : text;
      throw new CliError(`${detail} (HTTP ${response.status})`);
    }
    return json as T;
  }
}
