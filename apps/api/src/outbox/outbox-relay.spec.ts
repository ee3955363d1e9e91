import { MetricsService } from '@island/platform';
import { CatalogFixture } from '../state-machines/testing/catalog-fixture';
import { OutboxPublisher, OutboxRelay } from './outbox-relay.service';

/** Records what the relay publishes; `failing` refuses every publish (a broker that is down). */
class RecordingPublisher extends OutboxPublisher {
  readonly published: { routingKey: string; payload: object }[] = [];
  failing = false;

  async publishRaw(routingKey: string, _contract: string, _version: number, payload: object): Promise<void> {
    if (this.failing) throw new Error('the broker is down');
    this.published.push({ routingKey, payload });
  }
}

const until = async (what: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> => {
  for (const started = Date.now(); !(await what());) {
    if (Date.now() - started > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('the outbox relay (on the real catalog, a recording broker)', () => {
  let f: CatalogFixture;
  let publisher: RecordingPublisher;
  let relay: OutboxRelay;

  const waiting = async () => Number(((await f.db.dataSource.query(`SELECT count(*) AS n FROM outbox`)) as { n: string }[])[0].n);
  const append = (n: number) =>
    f.db.dataSource.query(
      `INSERT INTO outbox (routing_key, contract, version, payload) SELECT 'k.' || i, 'c', 1, jsonb_build_object('i', i) FROM generate_series(1, $1) i`,
      [n],
    );

  beforeAll(async () => {
    f = await CatalogFixture.create();
  });
  afterAll(() => f?.drop());
  beforeEach(async () => {
    await f.clearOutbox();
    publisher = new RecordingPublisher();
    relay = new OutboxRelay(f.db.dataSource, publisher, new MetricsService());
  });
  afterEach(() => relay.onApplicationShutdown());

  it('publishes, in order, messages no kick announced once its timer finds them, and removes them', async () => {
    relay.onApplicationBootstrap();
    await new Promise((r) => setTimeout(r, 200)); // its first pass at start found the outbox empty
    await append(3);
    await until(() => publisher.published.length === 3);
    expect(publisher.published.map((m) => m.routingKey)).toEqual(['k.1', 'k.2', 'k.3']);
    await until(async () => (await waiting()) === 0);
  });

  it('keeps every message while the broker refuses them and publishes them once it is back', async () => {
    publisher.failing = true;
    relay.onApplicationBootstrap();
    await append(2);
    await new Promise((r) => setTimeout(r, 1_200)); // two polls of the timer found them and failed to publish
    expect(await waiting()).toBe(2);
    publisher.failing = false;
    await until(() => publisher.published.length === 2);
    await until(async () => (await waiting()) === 0);
  });

  it('drains a backlog larger than one batch in one pass', async () => {
    await append(450);
    expect(await relay.drain()).toBe(450);
    expect(await waiting()).toBe(0);
    expect(publisher.published).toHaveLength(450);
  });
});
