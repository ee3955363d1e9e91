import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const SERVICES = join(ROOT, 'scripts', 'services.sh');

/** The users scripts/services.sh creates in the local Keystone. */
export type KeystoneUser = 'admin' | 'island' | 'alice' | 'bob' | 'rita';

/** The variables `scripts/services.sh env [USER]` prints, as a map. */
function servicesEnv(...args: string[]): Record<string, string> {
  const run = spawnSync(SERVICES, ['env', ...args], { encoding: 'utf8', env: process.env });
  if (run.status !== 0) throw new Error(`scripts/services.sh env ${args.join(' ')} failed: ${run.stderr}`);
  const vars: Record<string, string> = {};
  for (const line of run.stdout.split('\n')) {
    const m = /^(?:export )?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return vars;
}

/** The local Keystone of scripts/services.sh: island's service settings, users' credentials and tokens. */
export const localKeystone = {
  /** ISLAND_KEYSTONE_* for island's API. */
  islandEnv(): Record<string, string> {
    return Object.fromEntries(Object.entries(servicesEnv()).filter(([k]) => k.startsWith('ISLAND_KEYSTONE_')));
  },

  /** OS_* of a user, as the `openstack` client takes them. */
  userEnv(user: KeystoneUser): Record<string, string> {
    return Object.fromEntries(Object.entries(servicesEnv(user)).filter(([k]) => k.startsWith('OS_')));
  },

  /** A token scoped to the user's project (or `project` by name), and that project's id. */
  async token(user: KeystoneUser, project?: string): Promise<{ token: string; projectId: string }> {
    const os = localKeystone.userEnv(user);
    const res = await fetch(`${os.OS_AUTH_URL.replace(/\/+$/, '')}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: os.OS_USERNAME, domain: { name: os.OS_USER_DOMAIN_NAME ?? 'Default' }, password: os.OS_PASSWORD } },
          },
          scope: { project: { name: project ?? os.OS_PROJECT_NAME, domain: { name: os.OS_PROJECT_DOMAIN_NAME ?? 'Default' } } },
        },
      }),
    });
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) throw new Error(`Keystone refused ${user}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { token: { project: { id: string } } };
    return { token, projectId: body.token.project.id };
  },

  /** An unscoped token of a user (no project). */
  async unscopedToken(user: KeystoneUser): Promise<string> {
    const os = localKeystone.userEnv(user);
    const res = await fetch(`${os.OS_AUTH_URL.replace(/\/+$/, '')}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: { identity: { methods: ['password'], password: { user: { name: os.OS_USERNAME, domain: { name: 'Default' }, password: os.OS_PASSWORD } } } },
      }),
    });
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) throw new Error(`Keystone refused ${user}: ${res.status}`);
    return token;
  },

  /** Revokes a token (DELETE /v3/auth/tokens, with the token itself as the caller). */
  async revoke(token: string): Promise<void> {
    const url = servicesEnv().ISLAND_KEYSTONE_URL;
    const res = await fetch(`${url.replace(/\/+$/, '')}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': token, 'x-subject-token': token } });
    if (res.status !== 204) throw new Error(`revoking a token answered ${res.status}`);
  },
};
