import { Dispatcher } from 'undici';
import { SwiftAuthenticator, SwiftSession } from './auth';

/** Renew this long before the token's stated expiry. */
const EXPIRY_MARGIN_MS = 60_000;

/** Caches one session; concurrent callers share a single authentication in flight. */
export class TokenCache {
  private current?: SwiftSession;
  private pending?: Promise<SwiftSession>;

  constructor(
    private readonly authenticator: SwiftAuthenticator,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
  ) {}

  async session(): Promise<SwiftSession> {
    const current = this.current;
    if (current && (current.expiresAt === undefined || current.expiresAt - EXPIRY_MARGIN_MS > Date.now())) {
      return current;
    }
    this.pending ??= this.authenticator
      .authenticate(this.dispatcher, this.timeoutMs)
      .then((session) => {
        this.current = session;
        return session;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forgets `token` after Swift refused it, unless another caller already replaced it. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }
}
