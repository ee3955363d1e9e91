import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManifestReader } from '@island/blockstore';

/** What a volume being filled lazily reads from: one snapshot's manifest in one region, opened with its project's keys. */
export interface FillSource {
  volumeId: string;
  /** The volume's image on this host. */
  imagePath: string;
  projectId: string;
  region: string;
  manifestObject: string;
  manifestSealed: boolean;
  blockSize: number;
  /** Bytes the snapshot holds; the volume may be larger (grown since): the rest reads as zeros. */
  snapshotBytes: number;
  /** Bytes the volume's image shows. */
  volumeBytes: number;
  /** Stream jobs started so far (a failed one is started again a few times). */
  attempts: number;
}

const NAME_BYTES = 32;
const RUN_ENTRIES = 4096;

/**
 * The volumes of this host that fill from a snapshot, on disk beside their images (`<data dir>/fills`): for each, its
 * source (`<volume>.json`) and its block map (`<volume>.map`: 32 bytes per block index, the block's name, zeros for a
 * hole), written from the manifest once, so that any block is found with one read however large the volume — and a
 * restarted agent serves the same volume again without reading the manifest.
 */
export class FillRegistry {
  constructor(private readonly dir: string) {}

  sourcePath(volumeId: string): string {
    return join(this.dir, `${volumeId}.json`);
  }

  mapPath(volumeId: string): string {
    return join(this.dir, `${volumeId}.map`);
  }

  /** Records a fill: the map first, the source last (a source on disk always has its whole map). */
  async add(source: FillSource, manifest: ManifestReader): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const partialMap = `${this.mapPath(source.volumeId)}.partial`;
    const map = await open(partialMap, 'w', 0o600);
    try {
      let run: { first: number; names: Buffer[] } | undefined;
      const flush = async () => {
        if (run) await map.write(Buffer.concat(run.names), 0, run.names.length * NAME_BYTES, run.first * NAME_BYTES);
        run = undefined;
      };
      for await (const batch of manifest.batches()) {
        for (const entry of batch) {
          // consecutive names go out in one write
          if (run && (entry.index !== run.first + run.names.length || run.names.length === RUN_ENTRIES)) await flush();
          run ??= { first: entry.index, names: [] };
          run.names.push(entry.hash);
        }
      }
      await flush();
      await map.truncate(Math.ceil(source.snapshotBytes / source.blockSize) * NAME_BYTES);
      await map.sync();
    } finally {
      await map.close();
    }
    await rename(partialMap, this.mapPath(source.volumeId));
    await this.save(source);
  }

  async save(source: FillSource): Promise<void> {
    const partial = `${this.sourcePath(source.volumeId)}.partial`;
    await writeFile(partial, JSON.stringify(source), { mode: 0o600 });
    await rename(partial, this.sourcePath(source.volumeId));
  }

  async get(volumeId: string): Promise<FillSource | undefined> {
    if (!isVolumeId(volumeId) || !existsSync(this.sourcePath(volumeId))) return undefined;
    return JSON.parse(await readFile(this.sourcePath(volumeId), 'utf8')) as FillSource;
  }

  async all(): Promise<FillSource[]> {
    if (!existsSync(this.dir)) return [];
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const sources = await Promise.all(names.map((n) => this.get(n.slice(0, -'.json'.length))));
    return sources.filter((s): s is FillSource => s !== undefined);
  }

  /** Forgets a fill (done, or its volume deleted): the source first, so a half-removed fill is never served. */
  async remove(volumeId: string): Promise<void> {
    await rm(this.sourcePath(volumeId), { force: true });
    await rm(this.mapPath(volumeId), { force: true });
    await rm(`${this.mapPath(volumeId)}.partial`, { force: true });
  }
}

function isVolumeId(name: string): boolean {
  return /^[0-9a-f-]{36}$/.test(name);
}
