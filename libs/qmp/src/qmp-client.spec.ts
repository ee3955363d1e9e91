import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from './qmp-client';
import { QmpCommandError, QmpConnectionError } from './qmp-errors';

/** A scripted QMP monitor: greets, then answers each command with what `reply` returns (nothing: silence). */
function fakeMonitor(
  path: string,
  reply: (command: { execute: string; arguments?: unknown; id: number }, socket: Socket) => object | undefined,
): Promise<Server> {
  const server = createServer((socket) => {
    socket.write(`${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: ['oob'] } })}\r\n`);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const command = JSON.parse(buffer.slice(0, nl)) as { execute: string; id: number };
        buffer = buffer.slice(nl + 1);
        const answer = reply(command, socket);
        if (answer) socket.write(`${JSON.stringify({ ...answer, id: command.id })}\r\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('QmpClient', () => {
  let dir: string;
  let server: Server | undefined;
  let client: QmpClient | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qmp-'));
  });
  afterEach(async () => {
    client?.close();
    await new Promise((r) => (server ? server.close(r) : r(null)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('negotiates capabilities, then correlates replies with their commands by id', async () => {
    const seen: string[] = [];
    server = await fakeMonitor(join(dir, 'm'), (c, socket) => {
      seen.push(c.execute);
      if (c.execute === 'query-block-exports') {
        // answer out of order: the later command first
        setTimeout(
          () => socket.write(`${JSON.stringify({ return: [{ id: 'e1', type: 'nbd', 'node-name': 'n', 'shutting-down': false }], id: c.id })}\r\n`),
          30,
        );
        return undefined;
      }
      return { return: c.execute === 'query-version' ? { qemu: { major: 7, minor: 2, micro: 0 }, package: 'x' } : {} };
    });
    client = await QmpClient.connect(join(dir, 'm'));
    const [exports, version] = await Promise.all([client.execute('query-block-exports', {}), client.execute('query-version', {})]);
    expect(exports).toEqual([{ id: 'e1', type: 'nbd', 'node-name': 'n', 'shutting-down': false }]);
    expect(version.qemu.major).toBe(7);
    expect(seen).toEqual(['qmp_capabilities', 'query-block-exports', 'query-version']);
  });

  it("turns QEMU's error into a QmpCommandError naming the command, class and description", async () => {
    server = await fakeMonitor(join(dir, 'm'), (c) =>
      c.execute === 'blockdev-del' ? { error: { class: 'GenericError', desc: "Node 'x' is busy" } } : { return: {} },
    );
    client = await QmpClient.connect(join(dir, 'm'));
    const error = await client.execute('blockdev-del', { 'node-name': 'x' }).catch((e) => e);
    expect(error).toBeInstanceOf(QmpCommandError);
    expect(error).toMatchObject({ command: 'blockdev-del', errorClass: 'GenericError', description: "Node 'x' is busy" });
    // the connection goes on
    expect(await client.execute('query-block-exports', {})).toEqual({});
  });

  it('times out a command without a reply, and fails pending commands when the monitor goes away', async () => {
    server = await fakeMonitor(join(dir, 'm'), (c, socket) => {
      if (c.execute === 'quit') socket.destroy();
      return c.execute === 'qmp_capabilities' ? { return: {} } : undefined;
    });
    client = await QmpClient.connect(join(dir, 'm'));
    await expect(client.execute('query-version', {}, 100)).rejects.toThrow(/no reply to query-version within 100 ms/);
    const pending = client.execute('query-block-exports', {});
    await expect(client.execute('quit', {})).rejects.toBeInstanceOf(QmpConnectionError);
    await expect(pending).rejects.toThrow(/closed the connection/);
    await expect(client.execute('query-version', {})).rejects.toThrow(/closed/);
  });

  it('delivers events, and waits for the one it is told to', async () => {
    server = await fakeMonitor(join(dir, 'm'), (c, socket) => {
      if (c.execute === 'block-export-del') {
        setTimeout(() => {
          socket.write(`${JSON.stringify({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'other' } })}\r\n`);
          socket.write(`${JSON.stringify({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'e1' } })}\r\n`);
        }, 20);
      }
      return { return: {} };
    });
    client = await QmpClient.connect(join(dir, 'm'));
    const all: string[] = [];
    client.onEvent((e) => all.push(`${e.event}:${String(e.data?.id)}`));
    const deleted = client.waitForEvent('BLOCK_EXPORT_DELETED', (d) => d.id === 'e1', 1000);
    await client.execute('block-export-del', { id: 'e1' });
    expect((await deleted).data).toEqual({ id: 'e1' });
    expect(all).toEqual(['BLOCK_EXPORT_DELETED:other', 'BLOCK_EXPORT_DELETED:e1']);
    await expect(client.waitForEvent('SHUTDOWN', () => true, 50)).rejects.toThrow(/no SHUTDOWN event within 50 ms/);
  });

  it('refuses a peer that does not speak QMP, and a socket nobody listens on', async () => {
    const path = join(dir, 'not-qmp');
    server = createServer((socket) => socket.write('220 smtp ready\r\n'));
    await new Promise((r) => server!.listen(path, () => r(null)));
    await expect(QmpClient.connect(path, 500)).rejects.toThrow(/not QMP/);
    await expect(QmpClient.connect(join(dir, 'nobody'), 500)).rejects.toBeInstanceOf(QmpConnectionError);
  });
});
