import { AddressInfo, createServer, Socket } from 'node:net';
import { IslandStack, startIsland } from '@island/stack';

/** A TCP relay to PostgreSQL that a test can cut (every connection dropped, new ones refused) and restore. */
class CuttableRelay {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private readonly server = createServer((client) => {
    if (this.cut) return void client.destroy();
    const upstream = new Socket();
    upstream.connect(5432, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  takeAway(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  giveBack(): void {
    this.cut = false;
  }

  close(): Promise<void> {
    this.takeAway();
    return new Promise((r) => this.server.close(() => r()));
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

  it('answers 503 with Retry-After and a reason while the catalog is unreachable, changes nothing, and serves again once it is back', async () => {
    const before = await island.request<{ volumes: unknown[] }>('GET', '/v1/volumes');
    expect(before.status).toBe(200);

    relay.takeAway();
    const res = await fetch(`${island.api}/v1/volumes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${island.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sizeBytes: 1 << 20 }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { message: string }).message).toMatch(/catalog database is unavailable .*nothing was changed/);
    const listed = await island.request('GET', '/v1/volumes');
    expect(listed.status).toBe(503);

    relay.giveBack();
    let after = await island.request<{ volumes: unknown[] }>('GET', '/v1/volumes');
    for (let i = 0; i < 50 && after.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      after = await island.request<{ volumes: unknown[] }>('GET', '/v1/volumes');
    }
    expect(after.status).toBe(200);
    expect(after.body.volumes).toHaveLength(before.body.volumes.length);
  }, 60_000);
});
