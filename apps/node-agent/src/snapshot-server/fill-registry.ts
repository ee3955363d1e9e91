import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ManifestReader } from '@island/blockstore';
import { Qcow2Image } from '@island/qcow2';
import { VolumeRecords } from '../volume-records';

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
  private readonly sources: VolumeRecords<FillSource>;

  /** `onUnreadable`: told of a fill whose source cannot be read (it is left out of `all()`). */
  constructor(
    private readonly dir: string,
    onUnreadable?: (path: string, error: Error) => void,
  ) {
    this.sources = new VolumeRecords(dir, onUnreadable);
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

  save(source: FillSource): Promise<void> {
    return this.sources.save(source);
  }

  get(volumeId: string): Promise<FillSource | undefined> {
    return this.sources.get(volumeId);
  }

  all(): Promise<FillSource[]> {
    return this.sources.all();
  }

  /** Forgets a fill (done, or its volume deleted): the source first, so a half-removed fill is never served. */
  async remove(volumeId: string): Promise<void> {
    await this.sources.remove(volumeId);
    await rm(this.mapPath(volumeId), { force: true });
    await rm(`${this.mapPath(volumeId)}.partial`, { force: true });
  }
}

/**
 * True when the image no longer has a backing file: its fill ended (perhaps while no agent watched, its job dismissed
 * and the registry not yet cleared). Such an image must never be backed by its snapshot again: a fill would copy the
 * snapshot's blocks into what the guest discarded since.
 */
export async function imageIsStandalone(imagePath: string): Promise<boolean> {
  const image = await Qcow2Image.open(imagePath).catch(() => undefined);
  if (!image) return false;
  try {
    return image.info.backingFile === null;
  } finally {
    await image.close();
  }
}
