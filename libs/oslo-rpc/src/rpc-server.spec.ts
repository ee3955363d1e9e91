import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connect } from 'amqplib';
import { OsloRpcServer } from './rpc-server';

const AMQP = process.env.ISLAND_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const CLIENT = join(__dirname, '..', '..', '..', 'apps', 'api', 'test', 'oslo', 'rpc_client.py');

/** Two servers of one topic on the real RabbitMQ, called by Debian's Python oslo.messaging client. */
describe('OsloRpcServer replicas', () => {
  const topic = `island-rpc-spec-${randomBytes(4).toString('hex')}`;
  const seen: string[] = [];
  const servers = ['api-a', 'api-b'].map(
    (name) =>
      new OsloRpcServer({
        url: AMQP,
        exchange: 'openstack',
        topic,
        server: name,
        logger: { log: () => undefined, warn: () => undefined },
        endpoints: [
          {
            version: '1.0',
            namespace: null,
            methods: {
              whoami: async (context, args) => {
                seen.push(String(context.request_id));
                await new Promise((r) => setTimeout(r, Number(args.ms ?? 0)));
                return { server: name, echo: args.value ?? null };
              },
            },
          },
        ],
      }),
  );

  beforeAll(async () => {
    for (const s of servers) await s.start();
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    const conn = await connect(AMQP);
    const ch = await conn.createChannel();
    for (const q of [topic, `${topic}.api-a`, `${topic}.api-b`]) await ch.deleteQueue(q);
    await conn.close();
  });

  /** The Python client in a child process; asynchronously, since the servers under test run in this one. */
  const rpc = async (calls: object[]) => {
    const request = { url: AMQP.replace(/^amqp:/, 'rabbit:'), exchange: 'openstack', topic, calls };
    const child = spawn('/usr/bin/python3', [CLIENT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(JSON.stringify(request));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`rpc_client.py exited ${code}: ${stderr}`);
    return stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { result?: { server: string; echo: unknown }; results?: { result: { server: string } }[] });
  };

  it('shares the topic queue between replicas and reaches one by its server name', async () => {
    const [spread, direct] = await rpc([
      { method: 'whoami', kwargs: { ms: 200 }, context: { request_id: 'spread' }, concurrent: 16 },
      { method: 'whoami', kwargs: { value: [1, 'a', { k: null }] }, context: { request_id: 'direct' }, server: 'api-b' },
    ]);
    const by = new Set(spread.results!.map((r) => r.result.server));
    expect(by).toEqual(new Set(['api-a', 'api-b']));
    expect(direct.result).toEqual({ server: 'api-b', echo: [1, 'a', { k: null }] });
  });

  it('delivers a fanout cast to every replica and a plain cast to one', async () => {
    seen.length = 0;
    await rpc([
      { method: 'whoami', context: { request_id: 'fanout' }, cast: true, fanout: true },
      { method: 'whoami', context: { request_id: 'cast' }, cast: true },
    ]);
    for (let i = 0; i < 50 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    expect(seen.filter((s) => s === 'fanout')).toHaveLength(2);
    expect(seen.filter((s) => s === 'cast')).toHaveLength(1);
  });
});

describe('OsloRpcServer without a broker', () => {
  it('starts anyway, reports itself not connected, and stops cleanly', async () => {
    const warnings: string[] = [];
    const server = new OsloRpcServer({
      url: 'amqp://guest:guest@127.0.0.1:1',
      exchange: 'openstack',
      topic: 'unreachable',
      server: 'nowhere',
      endpoints: [],
      logger: { log: () => undefined, warn: (m) => warnings.push(m) },
    });
    await server.start();
    expect(server.connected).toBe(false);
    expect(warnings.join('\n')).toMatch(/cannot reach the broker yet/);
    await server.stop();
  });
});
