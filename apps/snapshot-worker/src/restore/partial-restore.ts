import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { blockMemoryAligned } from '@island/blockstore';
import { acquireWriterLock, createImage, ImageLockedError, openForWriting, OpenOptions, Qcow2Image } from '@island/qcow2';
import { BlockRanges } from './block-ranges';
import { checkPartialImage } from './partial-image-check';
import { checkRestoreRecord, RestoreIdentity } from './restore-record';
import { RestoreRecordFile, syncDirectory } from './restore-record-file';

/** How long a restore waits for another writer of its partial image to let go before its message is retried. */
const WRITER_WAIT_MS = 5_000;

/**
 * A restore writes its blocks past the page cache where the file system allows: they come in memory blockBuffers lends
 * aligned, and no one reads the image before it is in place. Each byte is then neither copied into the page cache (on a
 * VM whose hypervisor takes back free memory, 2–3 CPU-s per GiB: docs/performance.md) nor evicts the host's cached data.
 */
const RESTORE_IMAGE: Omit<OpenOptions, 'writable'> = blockMemoryAligned ? { directDataWrites: { memoryAligned: blockMemoryAligned } } : {};

export interface OpenedPartial {
  image: Qcow2Image;
  /** Blocks already in the image (none when it starts over). */
  written: BlockRanges;
  resumed: boolean;
  /** Why an existing partial image or record was not resumed. */
  startedOverBecause?: string;
  leaksReleased: number;
  /** The image was complete, its point in time taken: only the rename was left. */
  hasPointInTime: boolean;
}

/**
 * The image a restore fills before renaming it into place (`<target>.restoring`) and its progress record beside it
 * (`<target>.restoring.progress`). A restore delivered again resumes the image when the record belongs to this very
 * restore and the image passes qcow2's check; otherwise it starts over from an empty image, saying why. The caller runs
 * one restore per target in this process at a time.
 */
export class PartialRestore {
  readonly imagePath: string;
  readonly record: RestoreRecordFile;

  constructor(readonly target: string) {
    this.imagePath = `${target}.restoring`;
    this.record = new RestoreRecordFile(`${this.imagePath}.progress`);
  }

  async open(identity: RestoreIdentity): Promise<OpenedPartial> {
    await this.clearOwnStaleLock();
    const resumed = await this.resume(identity);
    if ('image' in resumed) return resumed;
    const image = await this.startOver(identity.sizeBytes);
    return { image, written: BlockRanges.empty(), resumed: false, startedOverBecause: resumed.why, leaksReleased: 0, hasPointInTime: false };
  }

  /** Renames the finished image into place; the record goes after it (a crash in between leaves a finished target). */
  async moveIntoPlace(): Promise<void> {
    await rename(this.imagePath, this.target);
    await syncDirectory(dirname(this.target));
    await this.record.remove();
  }

  /** Drops the partial image and its record (the restore failed for good). The record goes first. */
  async discard(): Promise<void> {
    await this.record.remove();
    await rm(this.imagePath, { force: true });
  }

  private async resume(identity: RestoreIdentity): Promise<OpenedPartial | { why?: string }> {
    const text = await this.record.read();
    if (text === undefined) return { why: existsSync(this.imagePath) ? 'a partial image without a progress record' : undefined };
    const record = checkRestoreRecord(text, identity);
    if (!record.trusted) return { why: record.why };
    if (!existsSync(this.imagePath)) return { why: 'a progress record without its partial image' };
    let image: Qcow2Image;
    try {
      image = await openForWriting(this.imagePath, WRITER_WAIT_MS, RESTORE_IMAGE);
    } catch (error) {
      if (error instanceof ImageLockedError) throw error;
      return { why: `the partial image does not open: ${(error as Error).message}` };
    }
    try {
      const check = await checkPartialImage(image, identity, record.written.count === identity.entries);
      if (check.sound) return { image, written: record.written, resumed: true, leaksReleased: check.leaksReleased, hasPointInTime: check.hasPointInTime };
      await image.close();
      return { why: check.why };
    } catch (error) {
      await image.close().catch(() => undefined);
      return { why: `the partial image cannot be checked: ${(error as Error).message}` };
    }
  }

  /** An empty image in place of whatever was there; the old record is removed before the image it described. */
  private async startOver(sizeBytes: number): Promise<Qcow2Image> {
    const lock = await acquireWriterLock(this.imagePath); // another live writer of this path: ImageLockedError, retried later
    try {
      await this.record.remove();
      await rm(this.imagePath, { force: true });
      await createImage(this.imagePath, { size: sizeBytes });
    } finally {
      await lock.release();
    }
    return openForWriting(this.imagePath, WRITER_WAIT_MS, RESTORE_IMAGE);
  }

  /** A lock naming this process is left by an earlier process with the same pid (e.g. a restarted container's). */
  private async clearOwnStaleLock(): Promise<void> {
    const lockPath = `${this.imagePath}.lock`;
    const owner = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (owner === process.pid) await rm(lockPath, { force: true });
  }
}
