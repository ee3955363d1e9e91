import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from '@island/qcow2';

/** One file per port a process of this machine's tests holds for a server it is about to start; the file holds its pid. */
const RESERVATIONS = join(tmpdir(), 'island-stack-ports');

/**
 * `count` distinct TCP ports that were free on 127.0.0.1 a moment ago, each reserved for this process until
 * releasePorts. The kernel hands a port out again as soon as it is closed, and a stack's processes bind theirs only
 * seconds later (the API after its migrations): a stack starting meanwhile in another Jest worker could be given the
 * same port, and the first stack would then wait for, and talk to, the other's API.
 */
export async function freePorts(count: number): Promise<number[]> {
  mkdirSync(RESERVATIONS, { recursive: true });
  const ports: number[] = [];
  while (ports.length < count) {
    for (const port of await portsFreeNow(count - ports.length)) {
      if (!ports.includes(port) && reserve(port)) ports.push(port);
    }
  }
  return ports;
}

/** Gives the ports back once their servers have stopped. */
export function releasePorts(ports: number[]): void {
  for (const port of ports) {
    if (ownerOf(port) === process.pid) rmSync(join(RESERVATIONS, String(port)), { force: true });
  }
}

async function portsFreeNow(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** True when the port is now this process's: unreserved, or reserved by a process that has exited. */
function reserve(port: number): boolean {
  const file = join(RESERVATIONS, String(port));
  try {
    writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch {
    const owner = ownerOf(port);
    if (owner !== undefined && isProcessAlive(owner)) return false; // held by a live process, this one included (a stack of it that has not stopped)
    rmSync(file, { force: true });
    return reserve(port);
  }
}

function ownerOf(port: number): number | undefined {
  try {
    const pid = Number(readFileSync(join(RESERVATIONS, String(port)), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
