import { createHash, timingSafeEqual } from 'node:crypto';
import { STATIC_TOKEN } from '@island/config';

/** Who a static token speaks for. */
export type StaticPrincipal = { admin: true } | { admin: false; projectId: string };

/**
 * The static tokens of development mode (ISLAND_ADMIN_TOKEN, ISLAND_TOKENS). A presented token is compared
 * with every known token in constant time (SHA-256 digests, so lengths do not leak either); nothing is ever
 * looked up by the presented string, so names such as `__proto__` are just unknown tokens.
 */
export class StaticTokens {
  private readonly known: ReadonlyArray<{ digest: Buffer; principal: StaticPrincipal }>;

  constructor(adminToken: string, projectTokens: ReadonlyMap<string, string>) {
    const entries: Array<[string, StaticPrincipal]> = [[adminToken, { admin: true }]];
    for (const [token, projectId] of projectTokens) entries.push([token, { admin: false, projectId }]);
    this.known = entries.map(([token, principal]) => ({ digest: digest(token), principal }));
  }

  /** The principal of a token, or undefined when it is malformed or unknown. */
  resolve(token: string): StaticPrincipal | undefined {
    if (!STATIC_TOKEN.test(token)) return undefined;
    const presented = digest(token);
    let found: StaticPrincipal | undefined;
    for (const entry of this.known) {
      if (timingSafeEqual(presented, entry.digest) && found === undefined) found = entry.principal;
    }
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
