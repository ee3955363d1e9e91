import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet, RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { ADMIN_DATABASE_URL, freePorts, releasePorts } from '@island/stack';

const MAIN = join(__dirname, '..', 'dist', 'main.js');

/** The API's own process as an operator starts it: what it refuses to start with, and HTTPS. */
describe('the API at start-up', () => {
  it.each(['0.0.0.0', '192.0.2.10', '::'])('refuses static tokens on the non-loopback address %s, saying why', (address) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ISLAND_BIND_ADDRESS: address, ISLAND_LOG_LEVEL: 'warn' };
    delete env.ISLAND_KEYSTONE_URL;
    const run = spawnSync(process.execPath, [MAIN], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(78);
    expect(run.stderr).toMatch(
      new RegExp(`ISLAND_BIND_ADDRESS ${address.replace(/[.]/g, '\\.')} is not a loopback address.*static tokens.*Configure Keystone`),
    );
  });

  /** Starts the API process alone on a fresh catalog; `get` asks it once it answers. */
  async function apiAlone(extra: Record<string, string>, run: (port: number) => Promise<void>): Promise<void> {
    const database = `island_alone_${randomBytes(4).toString('hex')}`;
    const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const [port] = await freePorts(1);
    const api = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        ISLAND_DATABASE_URL: ADMIN_DATABASE_URL.replace(/\/[^/]*$/, `/${database}`),
        ISLAND_AMQP_NAMESPACE: `alone-${database.slice(-8)}`,
        ISLAND_API_PORT: String(port),
        ISLAND_RPC_TOPIC: `island-volume-${database}`,
        ISLAND_LOG_LEVEL: 'warn',
        ...extra,
      },
      stdio: 'ignore',
    });
    try {
      await run(port);
    } finally {
      api.kill('SIGTERM');
      await new Promise((r) => api.once('exit', r));
      releasePorts([port]);
      await admin.query(`DROP DATABASE ${database} WITH (FORCE)`);
      await admin.end();
    }
  }

  /** GET `url` until the server answers (it may still be starting). */
  async function getWhenUp(url: string, options: RequestOptions, get = httpsGet): Promise<{ status: number; body: string }> {
    for (let i = 0; i < 150; i++) {
      const answer = await new Promise<{ status: number; body: string } | undefined>((resolve) => {
        get(url, options, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).on('error', () => setTimeout(() => resolve(undefined), 200));
      });
      if (answer) return answer;
    }
    throw new Error(`${url} never answered`);
  }

  it('serves HTTPS with the certificate and key it is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'island-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      await apiAlone({ ISLAND_TLS_CERT: join(dir, 'cert.pem'), ISLAND_TLS_KEY: join(dir, 'key.pem') }, async (port) => {
        const ca = readFileSync(join(dir, 'cert.pem'));
        const answer = await getWhenUp(`https://127.0.0.1:${port}/v1/volumes`, { ca, headers: { authorization: 'Bearer island-dev-token' } });
        expect(answer).toEqual({ status: 200, body: JSON.stringify({ volumes: [], nextMarker: null }) });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('answers 503, never lets a request in, when Keystone cannot be reached', async () => {
    const keystone = { ISLAND_KEYSTONE_URL: 'http://127.0.0.1:1/v3', ISLAND_KEYSTONE_USER: 'island', ISLAND_KEYSTONE_PASSWORD: 'unused' };
    await apiAlone(keystone, async (port) => {
      const answer = await getWhenUp(`http://127.0.0.1:${port}/v1/volumes`, { headers: { 'x-auth-token': 'any-token' } }, httpGet);
      expect(answer.status).toBe(503);
      // the operator's details (Keystone's address, island's service user) stay in the log
      expect(answer.body).toMatch(/identity service cannot validate tokens/);
      expect(answer.body).not.toMatch(/127\.0\.0\.1:1|island/);
    });
  }, 60_000);
});
