import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BarbicanKekSource } from './barbican-kek';
import { Kek } from './kek-source';

/** The Barbican and Keystone of `ISLAND_BARBICAN=1 scripts/services.sh up`, as Keystone user island. */
const BARBICAN_URL = 'http://127.0.0.1:9311';
const keystone = {
  url: `http://127.0.0.1:${process.env.ISLAND_KEYSTONE_PORT ?? 5000}/v3`,
  user: 'island',
  password: readFileSync(join(process.env.ISLAND_SERVICES_DIR ?? '/var/tmp/island-services', 'keystone', 'secrets', 'island'), 'utf8').trim(),
  project: 'service',
  domain: 'Default',
};

/** Barbican seen without the class under test: what is stored under a name, and cleaning up. */
const barbican = {
  async token(): Promise<string> {
    const res = await fetch(`${keystone.url}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: keystone.user, domain: { name: keystone.domain }, password: keystone.password } } },
          scope: { project: { name: keystone.project, domain: { name: keystone.domain } } },
        },
      }),
    });
    if (res.status !== 201) throw new Error(`Keystone refused island: ${res.status}`);
    return res.headers.get('x-subject-token')!;
  },

  async refs(name: string): Promise<string[]> {
    const res = await fetch(`${BARBICAN_URL}/v1/secrets?name=${encodeURIComponent(name)}&limit=100`, { headers: { 'x-auth-token': await barbican.token() } });
    const body = (await res.json()) as { secrets: { name: string; secret_ref: string }[] };
    return body.secrets.filter((s) => s.name === name).map((s) => s.secret_ref);
  },

  async store(name: string, payload: Buffer): Promise<string> {
    const res = await fetch(`${BARBICAN_URL}/v1/secrets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-token': await barbican.token() },
      body: JSON.stringify({
        name,
        secret_type: 'opaque',
        payload: payload.toString('base64'),
        payload_content_type: 'application/octet-stream',
        payload_content_encoding: 'base64',
      }),
    });
    return ((await res.json()) as { secret_ref: string }).secret_ref;
  },

  async removeAll(name: string): Promise<void> {
    const token = await barbican.token();
    for (const ref of await barbican.refs(name)) await fetch(ref, { method: 'DELETE', headers: { 'x-auth-token': token } });
  },
};

describe('BarbicanKekSource', () => {
  const run = randomUUID().slice(0, 8);
  // underscores: Barbican's name filter is a SQL LIKE, where "_" matches any character (see the other-name test)
  const secretName = `island_kek_test_${run}`;
  const otherName = `island-kek-test-${run}`;
  const oddName = `island-kek-odd-${run}`;
  const source = new BarbicanKekSource({ keystone, secretName });
  // the tests run in order, on the keys of the name: the first one stored, then the one a rotation made current
  let first: Kek;
  let rotated: Kek;

  afterAll(async () => {
    for (const name of [secretName, otherName, oddName]) await barbican.removeAll(name);
  });

  it('stores one secret on first use, and a second source gets the same key as current', async () => {
    first = await source.current();
    expect(first.key).toHaveLength(32);
    expect(await barbican.refs(secretName)).toHaveLength(1);
    expect(source.description).toBe(`Barbican secret "${secretName}" at ${BARBICAN_URL}`);

    const second = await new BarbicanKekSource({ keystone, url: BARBICAN_URL, secretName }).current();
    expect(second).toEqual(first);
    expect((await source.current()).id).toBe(first.id);
    expect(await barbican.refs(secretName)).toHaveLength(1);
  });

  it('makes a new key current on rotate, and still finds the previous one', async () => {
    rotated = await source.rotate();
    expect(rotated.id).not.toBe(first.id);
    expect((await source.current()).id).toBe(rotated.id);

    const elsewhere = new BarbicanKekSource({ keystone, secretName });
    expect((await elsewhere.current()).id).toBe(rotated.id);
    expect(await elsewhere.find(first.id)).toEqual(first);
    expect(await elsewhere.find(rotated.id)).toEqual(rotated);
    expect(await barbican.refs(secretName)).toHaveLength(2);
  });

  it('refuses to retire all but a key it does not hold, and deletes nothing', async () => {
    await expect(source.retireAllBut('0123456789abcdef')).rejects.toThrow(
      `Barbican secret "${secretName}" at ${BARBICAN_URL} does not hold KEK 0123456789abcdef`,
    );
    expect(await barbican.refs(secretName)).toHaveLength(2);
  });

  it('retires every key but the one kept, and finds the retired ones no more', async () => {
    expect(await source.retireAllBut(rotated.id)).toEqual([first.id]);
    expect(await barbican.refs(secretName)).toHaveLength(1);
    expect(await source.find(first.id)).toBeUndefined();
    expect(await new BarbicanKekSource({ keystone, secretName }).find(first.id)).toBeUndefined();
    expect(await source.current()).toEqual(rotated);
  });

  it('names Keystone and the HTTP status when the password is wrong, and not the password', async () => {
    const wrongPassword = `wrong-${randomBytes(8).toString('hex')}`;
    const refused = new BarbicanKekSource({ keystone: { ...keystone, password: wrongPassword }, secretName });
    const error = (await refused.current().catch((e: Error) => e)) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toContain(`Keystone at ${keystone.url}`);
    expect(error.message).toContain('HTTP 401');
    expect(error.message).not.toContain(wrongPassword);
    expect(error.message).not.toContain(keystone.password);
  });

  it('does not see the secrets of another name, even one that its name matches as a SQL LIKE pattern', async () => {
    const other = await new BarbicanKekSource({ keystone, secretName: otherName }).current();
    expect(other.id).not.toBe(rotated.id);
    expect(await source.current()).toEqual(rotated);
    expect(await source.find(other.id)).toBeUndefined();
    expect(await source.retireAllBut(rotated.id)).toEqual([]);
    expect(await barbican.refs(otherName)).toHaveLength(1);
  });

  it('refuses a secret of its name whose payload is not a 32-byte key, naming the secret', async () => {
    const ref = await barbican.store(oddName, randomBytes(16));
    const error = (await new BarbicanKekSource({ keystone, secretName: oddName }).current().catch((e: Error) => e)) as Error;
    expect(error.message).toContain(ref);
    expect(error.message).toContain('holds 16 bytes, not a 32-byte KEK');
  });
});
