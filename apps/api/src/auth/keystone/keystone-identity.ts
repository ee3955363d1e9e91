/** What a validated Keystone token says about its bearer. */
export interface KeystoneIdentity {
  userId: string;
  projectId: string;
  projectName: string;
  roles: string[];
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** The token is not valid (unknown, expired, revoked) or not usable here (no project scope): 401. */
export class TokenRefusedError extends Error {}

/** Keystone could not answer, or refused island's own credentials: 503, never "allow". */
export class IdentityUnavailableError extends Error {}

interface TokenBody {
  expires_at?: unknown;
  user?: { id?: unknown };
  project?: { id?: unknown; name?: unknown };
  roles?: Array<{ name?: unknown }>;
}

/** Reads GET /v3/auth/tokens' `token` object; anything missing or malformed refuses the token. */
export function identityOf(reply: unknown): KeystoneIdentity {
  const token = (reply as { token?: TokenBody } | null)?.token;
  if (!token || typeof token !== 'object') throw new IdentityUnavailableError('Keystone answered without a token object');
  const expiresAt = typeof token.expires_at === 'string' ? Date.parse(token.expires_at) : NaN;
  if (!Number.isFinite(expiresAt)) throw new IdentityUnavailableError('Keystone answered a token without expires_at');
  if (expiresAt <= Date.now()) throw new TokenRefusedError('the token has expired');
  const project = token.project;
  if (!project || typeof project.id !== 'string') throw new TokenRefusedError('the token is not scoped to a project (unscoped or domain-scoped)');
  const roles = Array.isArray(token.roles) ? token.roles.map((r) => r?.name).filter((n): n is string => typeof n === 'string') : [];
  return {
    userId: typeof token.user?.id === 'string' ? token.user.id : '',
    projectId: project.id,
    projectName: typeof project.name === 'string' ? project.name : project.id,
    roles,
    expiresAt,
  };
}
