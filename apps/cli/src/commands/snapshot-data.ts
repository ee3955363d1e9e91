import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { FileHandle, open } from 'node:fs/promises';
import { SnapshotView, VolumeView } from '../api/views';
import { ApiClient } from '../api/api-client';
import { ProgressBar } from '../api/progress-bar';
import { CliError } from '../cli-error';
import { print } from '../output';
import { formatBytes } from '../sizes';
import { loadQcow2 } from '../image/load-qcow2';

/** What `GET /v1/snapshots/{id}/changed-blocks` answers (a page). */
interface ChangedBlocksPage {
  snapshotId: string;
  baseSnapshotId: string | null;
  sizeBytes: number;
  baseSizeBytes: number | null;
  blockSize: number;
  blocks: number[];
  nextMarker: number | null;
}

export interface ChangedBlocks extends Omit<ChangedBlocksPage, 'nextMarker'> {
  /** Consecutive changed blocks as byte ranges of the snapshot (the last one cut at the volume's end). */
  ranges: { offset: number; length: number }[];
}

/** Blocks fetched at once by an export. */
const EXPORT_CONCURRENCY = 8;

/** Every page of the changed blocks of `id` since `base` (undefined: since an empty volume). */
export async function changedBlocks(api: ApiClient, id: string, base: string | undefined): Promise<ChangedBlocks> {
  const blocks: number[] = [];
  let page: ChangedBlocksPage;
  let marker: number | null = null;
  do {
    const query = new URLSearchParams({ ...(base && { base }), ...(marker !== null && { marker: String(marker) }) });
    page = await api.get<ChangedBlocksPage>(`/v1/snapshots/${encodeURIComponent(id)}/changed-blocks?${query}`);
    blocks.push(...page.blocks);
    marker = page.nextMarker;
  } while (marker !== null);
  const { nextMarker: _, ...rest } = page;
  return { ...rest, blocks, ranges: byteRanges(blocks, page.blockSize, page.sizeBytes) };
}

export function byteRanges(blocks: number[], blockSize: number, sizeBytes: number): { offset: number; length: number }[] {
  const ranges: { offset: number; length: number }[] = [];
  for (const index of blocks) {
    const offset = index * blockSize;
    const length = Math.min(blockSize, sizeBytes - offset);
    const last = ranges[ranges.length - 1];
    if (last && last.offset + last.length === offset) last.length += length;
    else ranges.push({ offset, length });
  }
  return ranges;
}

/** Where an export writes: a raw file or a qcow2 image. */
interface ExportTarget {
  write(offset: number, data: Buffer): Promise<void>;
  close(): Promise<void>;
}

async function rawTarget(path: string, sizeBytes: number, onto: boolean): Promise<ExportTarget> {
  if (onto && !existsSync(path)) throw new CliError(`${path}: no such file (with --base, FILE is an existing export of the base snapshot)`);
  const file: FileHandle = await open(path, onto ? 'r+' : 'w');
  // a whole export starts sparse (holes stay unwritten); onto an earlier export, the size follows an extend
  await file.truncate(sizeBytes);
  return {
    write: async (offset, data) => void (await file.write(data, 0, data.length, offset)),
    close: async () => {
      await file.sync();
      await file.close();
    },
  };
}

async function qcow2Target(path: string, sizeBytes: number, onto: boolean): Promise<ExportTarget> {
  const { createImage, isAllZero, openForWriting } = await loadQcow2();
  if (onto) {
    if (!existsSync(path)) throw new CliError(`${path}: no such file (with --base, FILE is an existing export of the base snapshot)`);
  } else {
    if (existsSync(path)) throw new CliError(`${path} exists: a qcow2 export makes a new image (remove it, or give --base to update an export)`);
    await createImage(path, { size: sizeBytes });
  }
  const image = await openForWriting(path);
  if (image.info.virtualSize !== sizeBytes) {
    await image.close();
    throw new CliError(`${path} is ${image.info.virtualSize} bytes, the snapshot ${sizeBytes}: export the whole snapshot instead`);
  }
  return {
    write: (offset, data) => (isAllZero(data) ? image.writeZeroes(offset, data.length) : image.write(offset, data)),
    close: () => image.close(),
  };
}

/** One block of a snapshot, checked against the checksum the API sent with it. */
async function fetchBlock(api: ApiClient, id: string, index: number): Promise<Buffer> {
  const { data, headers } = await api.getBytes(`/v1/snapshots/${encodeURIComponent(id)}/blocks/${index}`);
  const expected = headers['x-checksum-sha256'];
  const actual = createHash('sha256').update(data).digest('hex');
  if (expected !== actual) throw new CliError(`block ${index} of snapshot ${id} arrived damaged (SHA-256 ${actual}, the API sent ${expected ?? 'none'})`);
  return data;
}

/** An image to import: raw, or qcow2 (its active content), read a range at a time. */
interface ImportSource {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);
const QCOW2_NAME = /\.qcow2?$/i;
type ImportFormat = 'raw' | 'qcow2';

/**
 * The image at `path`, read as `format`; without one, as qcow2 when it starts with qcow2's magic, else as raw — but a
 * file named *.qcow2 without the magic is refused (a damaged image must not be taken for a disk's bytes). A qcow2 image
 * that reads through to a backing file is refused: its header must not make the import read a file of this host.
 */
async function importSource(path: string, format: ImportFormat | undefined): Promise<ImportSource> {
  if (!existsSync(path)) throw new CliError(`${path}: no such file`);
  const file = await open(path, 'r');
  const magic = Buffer.alloc(4);
  await file.read(magic, 0, 4, 0);
  const isQcow2 = magic.equals(QCOW2_MAGIC);
  if (format === 'qcow2' && !isQcow2) {
    await file.close();
    throw new CliError(`${path} is not a qcow2 image: it does not start with qcow2's magic (QFI\\xfb); nothing was written`);
  }
  if (format === undefined && !isQcow2 && QCOW2_NAME.test(path)) {
    await file.close();
    throw new CliError(
      `${path} is named as a qcow2 image but does not start with qcow2's magic (QFI\\xfb): damaged, or not qcow2; nothing was written (--format raw imports its bytes as they are)`,
    );
  }
  if (isQcow2 && format !== 'raw') {
    await file.close();
    const { Qcow2Image } = await loadQcow2();
    const image = await Qcow2Image.open(path, { refuseBacking: true }).catch((error: unknown) => {
      throw new CliError(`${path}: ${(error as Error).message}; nothing was written`);
    });
    return { size: image.info.virtualSize, read: (offset, length) => image.read(offset, length), close: () => image.close() };
  }
  const size = (await file.stat()).size;
  return {
    size,
    read: async (offset, length) => {
      const out = Buffer.alloc(length);
      await file.read(out, 0, Math.max(0, Math.min(length, size - offset)), offset);
      return out;
    },
    close: () => file.close(),
  };
}

/** Compared and written a block at a time (any size works; the volume's own is the natural one). */
const IMPORT_CHUNK = 1 << 20;

export function registerSnapshotData(snapshot: Command, api: ApiClient, waitForSnapshot: (s: SnapshotView) => Promise<SnapshotView>): void {
  snapshot
    .command('diff <BASE_ID> <SNAP_ID>')
    .description('the blocks whose content differs between two snapshots of a volume (from the catalog, reading no data)')
    .option('--json', 'print JSON (blocks and byte ranges)')
    .action(async (base: string, id: string, o: { json?: boolean }) => {
      const diff = await changedBlocks(api, id, base);
      const bytes = diff.ranges.reduce((n, r) => n + r.length, 0);
      print(!!o.json, diff, () =>
        [
          `${diff.blocks.length} blocks of ${formatBytes(diff.blockSize)} changed (${formatBytes(bytes)}) in ${diff.ranges.length} ranges`,
          ...diff.ranges.map((r) => `  ${r.offset}+${r.length}`),
        ].join('\n'),
      );
    });

  snapshot
    .command('export <SNAP_ID> <FILE>')
    .description("write a snapshot's content to a file; with --base, only the blocks changed since BASE, into FILE holding BASE's export")
    .option('--base <BASE_ID>', 'FILE is an export of this older snapshot of the same volume')
    .option('--format <FORMAT>', 'raw or qcow2', 'raw')
    .option('--json', 'print JSON')
    .action(async (id: string, path: string, o: { base?: string; format: string; json?: boolean }) => {
      if (o.format !== 'raw' && o.format !== 'qcow2') throw new CliError(`--format must be raw or qcow2, not ${o.format}`);
      const diff = await changedBlocks(api, id, o.base);
      const target = await (o.format === 'raw' ? rawTarget : qcow2Target)(path, diff.sizeBytes, o.base !== undefined);
      const bar = new ProgressBar(`exporting ${id}`);
      let done = 0;
      let bytes = 0;
      const queue = [...diff.blocks];
      try {
        const worker = async () => {
          for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
            const data = await fetchBlock(api, id, index);
            await target.write(index * diff.blockSize, data);
            done++;
            bytes += data.length;
            bar.update(diff.blocks.length ? (100 * done) / diff.blocks.length : 100, `${done}/${diff.blocks.length} blocks`);
          }
        };
        await Promise.all(Array.from({ length: EXPORT_CONCURRENCY }, worker));
      } finally {
        bar.finish();
        await target.close();
      }
      const report = {
        snapshotId: id,
        baseSnapshotId: o.base ?? null,
        file: path,
        format: o.format,
        sizeBytes: diff.sizeBytes,
        blocksWritten: done,
        bytesWritten: bytes,
      };
      print(!!o.json, report, () => `exported snapshot ${id} to ${path} (${o.format}): ${done} blocks, ${formatBytes(bytes)} written`);
    });

  snapshot
    .command('import <VOL_ID> <FILE>')
    .description(
      'write a raw or qcow2 image into a volume attached on this host (without an export) and snapshot it: the snapshot ' +
        'pipeline uploads only blocks the project does not hold already',
    )
    .option('--name <NAME>', "the snapshot's name")
    .option('--format <FORMAT>', "raw or qcow2 (default: qcow2 when the file starts with qcow2's magic, else raw)")
    .option('--json', 'print JSON')
    .action(async (volumeId: string, file: string, o: { name?: string; format?: string; json?: boolean }) => {
      if (o.format !== undefined && o.format !== 'raw' && o.format !== 'qcow2') throw new CliError(`--format must be raw or qcow2, not ${o.format}`);
      const volume = await api.get<VolumeView>(`/v1/volumes/${encodeURIComponent(volumeId)}`);
      const connection = volume.connection;
      if (!volume.attached || !connection || connection.nbd || connection.raw || connection.device) {
        throw new CliError(
          `volume ${volumeId} must be attached without an export (island volume attach ${volumeId} --host HOST): import writes into its image`,
        );
      }
      if (!existsSync(connection.path)) throw new CliError(`volume ${volumeId}'s image is on host ${connection.host}: run the import there`);
      const source = await importSource(file, o.format as ImportFormat | undefined);
      let written = 0;
      try {
        if (source.size > volume.sizeBytes) {
          throw new CliError(`${file} holds ${source.size} bytes, volume ${volumeId} ${volume.sizeBytes}: extend the volume first`);
        }
        const { isAllZero, openForWriting } = await loadQcow2();
        const image = await openForWriting(connection.path);
        const bar = new ProgressBar(`importing into ${volumeId}`);
        try {
          // only what differs is written: an unchanged cluster stays shared with the last point in time, so the
          // snapshot reads and hashes only the blocks the image changes (and the rest of the volume becomes zeros)
          for (let offset = 0; offset < volume.sizeBytes; offset += IMPORT_CHUNK) {
            const length = Math.min(IMPORT_CHUNK, volume.sizeBytes - offset);
            const wanted = offset < source.size ? await source.read(offset, length) : Buffer.alloc(length);
            if (!(await image.read(offset, length)).equals(wanted)) {
              await (isAllZero(wanted) ? image.writeZeroes(offset, length) : image.write(offset, wanted));
              written++;
            }
            bar.update((100 * (offset + length)) / volume.sizeBytes, `${written} blocks written`);
          }
        } finally {
          bar.finish();
          await image.close();
        }
      } finally {
        await source.close();
      }
      const created = await api.post<SnapshotView>('/v1/snapshots', { volumeId, ...(o.name !== undefined && { name: o.name }) });
      const s = await waitForSnapshot(created);
      const report = {
        snapshotId: s.id,
        volumeId,
        file,
        blocksWritten: written,
        blocksUploaded: s.blocksUploaded,
        blocksReused: s.blocksReused,
        bytesUploaded: s.bytesUploaded,
      };
      print(
        !!o.json,
        report,
        () =>
          `imported ${file} into volume ${volumeId} as snapshot ${s.id}: ${written} blocks differed, ${s.blocksUploaded} uploaded, ${s.blocksReused} already held`,
      );
    });
}
