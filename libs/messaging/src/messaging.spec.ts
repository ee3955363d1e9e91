import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Injectable, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect } from 'amqplib';
import { IsInt, IsString } from 'class-validator';
import { ContractDefinition, defineContract, routes, ServiceName, WORKER_READ_PREFETCH } from '@island/contracts';
import { HealthModule, MetricsModule, ReadinessRegistry } from '@island/platform';
import { HandlerSetupError, HEADERS, MessageContext, MessagePublisher, MessagingModule, OnMessage, PermanentMessageError } from './index';

/** Runs against the real RabbitMQ on 127.0.0.1:5672; every test uses its own namespace of exchanges and queues. */
const AMQP_URL = process.env.ISLAND_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

class Ping {
  @IsString() text!: string;
  @IsInt() n!: number;
}
const PingV1 = defineContract({ name: 'TestPing', version: 1, kind: 'event', consumer: 'api', schema: Ping, routingKey: () => routes.event('TestPing', 1) });
class Pong {
  @IsString() text!: string;
}
const PongV1 = defineContract({ name: 'TestPong', version: 1, kind: 'event', consumer: 'api', schema: Pong, routingKey: () => routes.event('TestPong', 1) });

/** Worker jobs: one on a queue with its own prefetch (reads), one on the service's ordinary queue. */
const ReadV1 = defineContract({
  name: 'TestRead',
  version: 1,
  kind: 'job',
  consumer: 'snapshot-worker',
  schema: Pong,
  routingKey: () => routes.read('TestRead', 1),
});
const SlowJobV1 = defineContract({
  name: 'TestSlowJob',
  version: 1,
  kind: 'job',
  consumer: 'snapshot-worker',
  schema: Pong,
  routingKey: () => routes.anyWorker('TestSlowJob', 1),
});

type Behaviour = (payload: Ping, context: MessageContext) => Promise<void> | void;

/** Collects what the handlers saw; each test sets how the Ping handler behaves. */
class Inbox {
  received: { payload: Ping | Pong; context: MessageContext; at: number }[] = [];
  behaviour: Behaviour = () => undefined;
  waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const tick = () => {
        if (this.received.length >= count) return resolve();
        if (Date.now() - started > timeoutMs) return reject(new Error(`waited for ${count} messages, got ${this.received.length}`));
        setTimeout(tick, 20);
      };
      tick();
    });
  }
}

const inbox = new Inbox();

@Injectable()
class PingHandler {
  @OnMessage(PingV1)
  async onPing(payload: Ping, context: MessageContext) {
    await inbox.behaviour(payload, context);
    inbox.received.push({ payload, context, at: Date.now() });
  }
}

@Injectable()
class PongHandler {
  @OnMessage(PongV1)
  onPong(payload: Pong, context: MessageContext) {
    inbox.received.push({ payload, context, at: Date.now() });
  }
}

@Injectable()
class SecondPongHandler {
  @OnMessage(PongV1)
  onPong() {
    return undefined;
  }
}

/** Counts handlers running at once per contract; each waits until the test lets them all go. */
const running = { read: 0, maxRead: 0, slow: 0, maxSlow: 0, release: () => undefined as void, gate: Promise.resolve() };

@Injectable()
class WorkerHandlers {
  @OnMessage(ReadV1)
  async onRead() {
    running.maxRead = Math.max(running.maxRead, ++running.read);
    await running.gate;
    running.read--;
  }

  @OnMessage(SlowJobV1)
  async onSlow() {
    running.maxSlow = Math.max(running.maxSlow, ++running.slow);
    await running.gate;
    running.slow--;
  }
}

async function startApp(
  namespace: string,
  handlers: (new () => object)[],
  contracts: ContractDefinition[] = [PingV1, PongV1],
  service: { service: ServiceName; host?: string } = { service: 'api' },
): Promise<INestApplicationContext> {
  @Module({
    imports: [
      HealthModule,
      MetricsModule,
      MessagingModule.forRootAsync({
        useFactory: () => ({ ...service, url: AMQP_URL, prefetch: 4, namespace, retryDelaysMs: [200, 400], contracts, shutdownGraceMs: 0 }),
      }),
    ],
    providers: handlers,
  })
  class TestModule {}
  const app = await NestFactory.createApplicationContext(TestModule, { logger: false });
  const readiness = app.get(ReadinessRegistry);
  for (let i = 0; i < 100 && !(await readiness.report()).ready; i++) await new Promise((r) => setTimeout(r, 50));
  return app;
}

/** Reads (and removes) every message in the namespace's dead-letter queue. */
async function deadLetters(namespace: string): Promise<{ body: unknown; headers: Record<string, unknown> }[]> {
  const conn = await connect(AMQP_URL);
  const ch = await conn.createChannel();
  const out = [];
  for (let m = await ch.get(`${namespace}.island.dead`, { noAck: true }); m; m = await ch.get(`${namespace}.island.dead`, { noAck: true })) {
    out.push({ body: JSON.parse(m.content.toString()), headers: m.properties.headers ?? {} });
  }
  await conn.close();
  return out;
}

async function waitForDeadLetters(namespace: string, count: number) {
  const found: Awaited<ReturnType<typeof deadLetters>> = [];
  for (let i = 0; i < 100 && found.length < count; i++) {
    found.push(...(await deadLetters(namespace)));
    if (found.length < count) await new Promise((r) => setTimeout(r, 50));
  }
  return found;
}

async function removeNamespace(namespace: string) {
  const conn = await connect(AMQP_URL);
  const ch = await conn.createChannel();
  for (const q of ['island.api', 'island.worker.h1', 'island.worker', 'island.worker.read']) {
    for (const name of [q, `${q}.retry.200ms`, `${q}.retry.400ms`]) await ch.deleteQueue(`${namespace}.${name}`);
  }
  await ch.deleteQueue(`${namespace}.island.dead`);
  for (const x of ['island', 'island.dead']) await ch.deleteExchange(`${namespace}.${x}`);
  await conn.close();
}

describe('messaging on the real RabbitMQ', () => {
  let namespace: string;
  let app: INestApplicationContext | undefined;

  beforeEach(() => {
    namespace = `test-${randomUUID().slice(0, 8)}`;
    inbox.received = [];
    inbox.behaviour = () => undefined;
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await removeNamespace(namespace);
  });

  it('delivers a published message to its handler, validated and typed, after the broker confirmed it', async () => {
    app = await startApp(namespace, [PingHandler, PongHandler]);
    await app.get(MessagePublisher).publish(PingV1, { text: 'hello', n: 1 });
    await inbox.waitFor(1);
    const [{ payload, context }] = inbox.received;
    expect(context.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload).toBeInstanceOf(Ping);
    expect(payload).toEqual({ text: 'hello', n: 1 });
    expect(context).toMatchObject({ contract: 'TestPing.v1', attempt: 1, redelivered: false, finalAttempt: false, routingKey: 'event.TestPing.v1' });
  });

  it('refuses to publish a payload that breaks its contract', async () => {
    app = await startApp(namespace, [PingHandler, PongHandler]);
    await expect(app.get(MessagePublisher).publish(PingV1, { text: 'x', n: 'one' } as unknown as Ping)).rejects.toThrow(
      'TestPing.v1: n: n must be an integer number',
    );
  });

  it('dead-letters a malformed message with the reason and keeps consuming', async () => {
    app = await startApp(namespace, [PingHandler, PongHandler]);
    const publisher = app.get(MessagePublisher);
    await publisher.publishRaw(PingV1.routingKey({ text: 'x', n: 1 }), PingV1.name, PingV1.version, { text: 7, n: 1, extra: true });
    await publisher.publishRaw(routes.event('TestNobody', 1), 'TestNobody', 1, {});
    await publisher.publish(PongV1, { text: 'after' });
    await inbox.waitFor(1);
    expect(inbox.received.map((r) => r.payload)).toEqual([{ text: 'after' }]);
    const dead = await waitForDeadLetters(namespace, 2);
    const reasons = dead.map((d) => String(d.headers[HEADERS.reason]));
    expect(reasons).toContain(`no handler for contract TestNobody.v1 on queue ${namespace}.island.api`);
    expect(reasons).toContain('TestPing.v1: extra: property extra should not exist; text: text must be a string');
  });

  it('retries a failing handler after a delay and succeeds', async () => {
    const attempts: number[] = [];
    inbox.behaviour = (_p, context) => {
      attempts.push(Date.now());
      if (context.attempt < 3) throw new Error('disk busy');
    };
    app = await startApp(namespace, [PingHandler, PongHandler]);
    await app.get(MessagePublisher).publish(PingV1, { text: 'retry me', n: 2 });
    await inbox.waitFor(1);
    expect(inbox.received[0].context.attempt).toBe(3);
    expect(attempts).toHaveLength(3);
    expect(attempts[1] - attempts[0]).toBeGreaterThanOrEqual(180);
    expect(attempts[2] - attempts[1]).toBeGreaterThanOrEqual(380);
    expect(await deadLetters(namespace)).toEqual([]);
  });

  it('dead-letters a message whose handler keeps failing once retries run out, telling the handler which attempt is the last', async () => {
    let calls = 0;
    const finals: boolean[] = [];
    inbox.behaviour = (_p, context) => {
      calls += 1;
      finals.push(context.finalAttempt);
      throw new Error('still broken');
    };
    app = await startApp(namespace, [PingHandler, PongHandler]);
    await app.get(MessagePublisher).publish(PingV1, { text: 'doomed', n: 3 });
    const [dead] = await waitForDeadLetters(namespace, 1);
    expect(calls).toBe(3);
    expect(finals).toEqual([false, false, true]);
    expect(dead.body).toEqual({ text: 'doomed', n: 3 });
    expect(dead.headers[HEADERS.reason]).toBe('TestPing.v1: still broken (gave up after 3 attempts)');
  });

  it('dead-letters at once when a handler says the failure is permanent', async () => {
    let calls = 0;
    inbox.behaviour = () => {
      calls += 1;
      throw new PermanentMessageError('volume v1 does not exist');
    };
    app = await startApp(namespace, [PingHandler, PongHandler]);
    await app.get(MessagePublisher).publish(PingV1, { text: 'x', n: 4 });
    const [dead] = await waitForDeadLetters(namespace, 1);
    expect(calls).toBe(1);
    expect(dead.headers[HEADERS.reason]).toBe('TestPing.v1: volume v1 does not exist');
  });

  it('refuses to start when a consumed contract has no handler, two handlers, or a stranger has one', async () => {
    await expect(startApp(namespace, [PingHandler])).rejects.toThrow(new HandlerSetupError('api', ['no handler for TestPong.v1']));
    await expect(startApp(namespace, [PingHandler, PongHandler, SecondPongHandler])).rejects.toThrow('more than one handler for TestPong.v1 (2 handlers)');
    await expect(startApp(namespace, [PingHandler, PongHandler], [PingV1])).rejects.toThrow('handlers for contracts api does not consume: TestPong.v1');
  });

  it('redelivers a message whose handler never finished when the consumer went away', async () => {
    let release: () => void = () => undefined;
    inbox.behaviour = (_p, context) => (context.redelivered ? undefined : new Promise<void>((resolve) => (release = resolve)));
    app = await startApp(namespace, [PingHandler, PongHandler]);
    await app.get(MessagePublisher).publish(PingV1, { text: 'crash', n: 5 });
    await new Promise((r) => setTimeout(r, 300));
    await app.close(); // the handler is still running: no ack was sent
    app = await startApp(namespace, [PingHandler, PongHandler]);
    await inbox.waitFor(1);
    expect(inbox.received[0].context.redelivered).toBe(true);
    release();
  });

  it("gives a queue with a prefetch of its own that many messages in flight, while the service's other queues keep theirs", async () => {
    running.gate = new Promise<void>((resolve) => (running.release = resolve));
    app = await startApp(namespace, [WorkerHandlers], [ReadV1, SlowJobV1], { service: 'snapshot-worker', host: 'h1' });
    const publisher = app.get(MessagePublisher);
    for (let i = 0; i < 10; i++) await publisher.publish(SlowJobV1, { text: `job ${i}` });
    for (let i = 0; i < WORKER_READ_PREFETCH + 4; i++) await publisher.publish(ReadV1, { text: `read ${i}` });
    for (let i = 0; i < 200 && (running.read < WORKER_READ_PREFETCH || running.slow < 4); i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 200)); // time for any delivery past the limits to arrive
    expect({ reads: running.maxRead, jobs: running.maxSlow }).toEqual({ reads: WORKER_READ_PREFETCH, jobs: 4 });
    running.release();
  });

  it('reconnects after the broker drops its connection and consumes again', async () => {
    app = await startApp(namespace, [PingHandler, PongHandler]);
    const readiness = app.get(ReadinessRegistry);
    const name = `${namespace}.island-api`;
    const pids = execFileSync('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'name', 'client_properties'])
      .toString()
      .split('\n')
      .filter((line) => line.includes(name))
      .map((line) => line.split('\t')[0]);
    expect(pids).toHaveLength(1);
    execFileSync('rabbitmqctl', ['close_connection', pids[0], 'test: broker went away']);
    let sawDown = false;
    for (let i = 0; i < 200; i++) {
      const ready = (await readiness.report()).ready;
      sawDown ||= !ready;
      if (sawDown && ready) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(sawDown).toBe(true);
    expect((await readiness.report()).ready).toBe(true);
    await app.get(MessagePublisher).publish(PongV1, { text: 'after reconnect' });
    await inbox.waitFor(1);
    expect(inbox.received[0].payload).toEqual({ text: 'after reconnect' });
  });
});
