import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ProjectKeys } from '@island/blockstore';
import { acquireWriterLock, ImageLockedError, WriterLock } from '@island/qcow2';
import { IslandStack } from './island-stack';
import { pollUntil } from './poll';

const run = promisify(execFile);
/** A guest write waits this long for the agent's brief holds of the image (taking or releasing a point in time). */
const GUEST_WAIT_MS = 30_000;

/**
 * QEMU's own tools do the guest's I/O, so a bug shared by island's qcow2 writer and reader cannot pass a test.
 * They hold island's writer lock meanwhile: the agent's holds of the image (points in time) wait for them.
 */
async function withImage<T>(path: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + GUEST_WAIT_MS;
  let lock: WriterLock;
  for (;;) {
    try {
      lock = await acquireWriterLock(path);
      break;
    } catch (error) {
      if (!(error instanceof ImageLockedError) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** A scratch file for qemu-io/qemu-img, removed afterwards. */
async function withScratch<T>(work: (file: string) => Promise<T>): Promise<T> {
  const file = join(tmpdir(), `island-guest-${randomBytes(6).toString('hex')}`);
  try {
    return await work(file);
  } finally {
    await rm(file, { force: true });
  }
}

type Json = Record<string, unknown>;

/** What end-to-end tests do to a stack as a guest and as a user: poll, attach, snapshot, write, read back. */
export function guestIo(island: IslandStack) {
  const until = <T extends Json>(path: string, done: (body: T) => boolean, what: string): Promise<T> =>
    pollUntil<T>(island, path, done, { what, timeoutMs: 60_000 });

  return {
    until,

    async createVolume(sizeBytes: number, extra: Json = {}): Promise<string> {
      const res = await island.request('POST', '/v1/volumes', { sizeBytes, ...extra });
      if (res.status !== 201) throw new Error(`create volume: ${res.status} ${JSON.stringify(res.body)}`);
      return String(res.body.id);
    },

    /** Attaches on a host (the stack's first unless named) and returns the image path. */
    async attach(volumeId: string, host = island.host): Promise<string> {
      const res = await island.request('POST', `/v1/volumes/${volumeId}/attach`, { host });
      if (res.status !== 202) throw new Error(`attach ${volumeId}: ${res.status} ${JSON.stringify(res.body)}`);
      const volume = await until<Json>(`/v1/volumes/${volumeId}`, (v) => v.status === 'in-use', `attach ${volumeId}`);
      return (volume.connection as { path: string }).path;
    },

    async snapshot(volumeId: string, name = ''): Promise<Json> {
      const res = await island.request('POST', '/v1/snapshots', { volumeId, name });
      if (res.status !== 202) throw new Error(`snapshot ${volumeId}: ${res.status} ${JSON.stringify(res.body)}`);
      return until<Json>(`/v1/snapshots/${res.body.id}`, (s) => s.status === 'available', `snapshot ${name}`);
    },

    /** Writes into the image as the guest would (qemu-io), and into the model of what the guest wrote (when kept). */
    async write(path: string, offset: number, data: Buffer, model?: Buffer): Promise<void> {
      await withScratch(async (source) => {
        await writeFile(source, data);
        await withImage(path, () => run('qemu-io', ['-f', 'qcow2', '-c', `write -q -s ${source} ${offset} ${data.length}`, path]));
      });
      if (model) data.copy(model, offset);
    },

    /** The guest's view of the disk (its first `length` bytes, or all of it), as qemu-img converts it to raw. */
    async read(path: string, length?: number): Promise<Buffer> {
      return withScratch(async (raw) => {
        await withImage(path, () => run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path, raw]));
        if (length === undefined) return readFile(raw);
        const file = await open(raw, 'r');
        try {
          const buffer = Buffer.alloc(length);
          const { bytesRead } = await file.read(buffer, 0, length, 0);
          return buffer.subarray(0, bytesRead);
        } finally {
          await file.close();
        }
      });
    },

    /** Detaches and deletes a volume (with its snapshots when cascading) and waits until it is gone. */
    async deleteVolume(volumeId: string, cascade = false): Promise<void> {
      await island.request('POST', `/v1/volumes/${volumeId}/detach`);
      const res = await island.request('DELETE', `/v1/volumes/${volumeId}${cascade ? '?cascade=true' : ''}`);
      if (res.status !== 202) throw new Error(`delete ${volumeId}: ${res.status} ${JSON.stringify(res.body)}`);
      for (let i = 0; i < 300; i++) {
        if ((await island.request('GET', `/v1/volumes/${volumeId}`)).status === 404) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`volume ${volumeId} was not deleted`);
    },
  };
}

/** The names (hex) of every block of `content` that is not all zero, under a project's keys: the block objects it needs. */
export function blockHashes(content: Buffer, blockSize: number, keys: ProjectKeys): Set<string> {
  const hashes = new Set<string>();
  for (let at = 0; at < content.length; at += blockSize) {
    const block = content.subarray(at, Math.min(content.length, at + blockSize));
    if (block.some((b) => b !== 0)) hashes.add(keys.blockName(block).toString('hex'));
  }
  return hashes;
}
