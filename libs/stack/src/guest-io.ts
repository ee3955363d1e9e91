import { createHash } from 'node:crypto';
import { openForWriting, Qcow2Image } from '@island/qcow2';

/** A guest write waits this long for the agent's brief holds of the image (taking or releasing a point in time). */
const GUEST_WAIT_MS = 30_000;
import { IslandStack } from './island-stack';
import { pollUntil } from './poll';

type Json = Record<string, unknown>;

/** What end-to-end tests do to a stack as a guest and as a user: poll, attach, snapshot, write, read back. */
export function guestIo(island: IslandStack) {
  const until = <T extends Json>(path: string, done: (body: T) => boolean, what: string): Promise<T> => pollUntil<T>(island, path, done, { what, timeoutMs: 60_000 });

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

    /** Writes into the image as the guest would, and into the model of what the guest wrote (when kept). */
    async write(path: string, offset: number, data: Buffer, model?: Buffer): Promise<void> {
      const image = await openForWriting(path, GUEST_WAIT_MS);
      try {
        await image.write(offset, data);
      } finally {
        await image.close();
      }
      if (model) data.copy(model, offset);
    },

    async read(path: string): Promise<Buffer> {
      const image = await Qcow2Image.open(path);
      try {
        return await image.read(0, image.header.size);
      } finally {
        await image.close();
      }
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

/** The SHA-256 (hex) of every block of `content` that is not all zero: the block objects it needs. */
export function blockHashes(content: Buffer, blockSize: number): Set<string> {
  const hashes = new Set<string>();
  for (let at = 0; at < content.length; at += blockSize) {
    const block = content.subarray(at, Math.min(content.length, at + blockSize));
    if (block.some((b) => b !== 0)) hashes.add(createHash('sha256').update(block).digest('hex'));
  }
  return hashes;
}
