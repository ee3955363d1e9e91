import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { IslandStack, startIsland } from '@island/stack';

/**
 * A TCP relay to PostgreSQL that a test can cut: `cut` drops every connection and accepts new ones only to drop
 * them too (the database went away under open sessions); `refuse` stops listening (nothing answers: connections
 * are refused); `restore` relays again on the same port.
 */
class CuttableRelay {
  private readonly sockets = new Set<Socket>();
  private dropping = false;
  private server?: Server;
  private port = 0;

  async listen(): Promise<string> {
    this.server = createServer((client) => this.relay(client));
    await new Promise<void>((r) => this.server?.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return `127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.dropping = true;
    for (const s of this.sockets) s.destroy();
  }

  async refuse(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server?.close(r));
  }

  async restore(): Promise<void> {
    this.dropping = false;
    if (!this.server?.listening) await this.listen();
  }

  async close(): Promise<void> {
    this.cut();
    if (this.server?.listening) await new Promise((r) => this.server?.close(r));
  }

  private relay(client: Socket): void {
    if (this.dropping) return void client.destroy();
    const upstream = new Socket();
    upstream.connect(5432, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  }
}

/** The API while its catalog database is gone (restarting, a network cut): 503s that say so, nothing changed. */
describe('the API without its catalog database', () => {
  const relay = new CuttableRelay();
  let island: IslandStack;

  beforeAll(async () => {
    island = await startIsland({ apiCatalogAddress: await relay.listen() });
  }, 120_000);
  afterAll(async () => {
    await island?.stop();
    await relay.close();
  }, 60_000);

  const createVolume = () =>
    fetch(`${island.api}/v1/volumes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${island.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sizeBytes: 1 << 20 }),
    });
  const servedAgain = async () => {
    let answer = await island.request<{ volumes: unknown[] }>('GET', '/v1/volumes');
    for (let i = 0; i < 50 && answer.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      answer = await island.request<{ volumes: unknown[] }>('GET', '/v1/volumes');
    }
    return answer;
  };

  it('answers 503 with Retry-After, saying nothing changed, while the database refuses connections; serves again once it is back', async () => {
    const before = await island.request<{ volumes: unknown[] }>('GET', '/v1/volumes');
    expect(before.status).toBe(200);
    await relay.refuse();
    // the pool's sessions were cut: the first requests may find one of them; then only refusals are left
    let res = await createVolume();
    for (let i = 0; i < 10 && res.status === 503 && !/nothing was changed/.test(((await res.clone().json()) as { message: string }).message); i++)
      res = await createVolume();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const body = (await res.json()) as { message: string };
    expect(body.message).toBe("island's catalog database is unavailable: nothing was changed; try again in a few seconds");
    expect(body.message).not.toMatch(/127\.0\.0\.1|5432|ECONNREFUSED/);

    await relay.restore();
    const after = await servedAgain();
    expect(after.status).toBe(200);
    expect(after.body.volumes).toHaveLength(before.body.volumes.length);
  }, 60_000);

  it('says a request may or may not have taken effect when the connection is cut under it', async () => {
    relay.cut();
    const res = await createVolume();
    expect(res.status).toBe(503);
    expect(((await res.json()) as { message: string }).message).toBe(
      "island's catalog database is unavailable: the request may or may not have taken effect; check before repeating a change",
    );
    await relay.restore();
    expect((await servedAgain()).status).toBe(200);
  }, 60_000);
});
