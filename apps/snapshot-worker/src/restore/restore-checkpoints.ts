import { Qcow2Image } from '@island/qcow2';
import { BlockRanges } from './block-ranges';
import { RestoreIdentity, restoreRecord } from './restore-record';
import { RestoreRecordFile } from './restore-record-file';

/** How often a restore records its progress: at most this much fetching is repeated after a crash. */
export const CHECKPOINT_INTERVAL_MS = 1_000;

/**
 * Keeps a restore's progress record true whenever the process dies: blocks are recorded only after the image holding
 * them was flushed (qcow2 metadata written, then fdatasync), so a record never claims a block that is not on disk.
 * Checkpoints must be taken with no image write in flight: between the writer's batches, or after it finished.
 */
export class RestoreCheckpoints {
  private lastCheckpoint = Date.now();

  constructor(
    private readonly image: Qcow2Image,
    private readonly file: RestoreRecordFile,
    private readonly identity: RestoreIdentity,
    /** Blocks written, the durable ones (from the record resumed) and those written since. */
    readonly written: BlockRanges,
    private readonly intervalMs = CHECKPOINT_INTERVAL_MS,
  ) {}

  /** Every entry of the block is written (in the image, not yet necessarily on disk). */
  blockWritten(ordinal: number): void {
    this.written.add(ordinal);
  }

  async checkpointIfDue(): Promise<void> {
    if (Date.now() - this.lastCheckpoint >= this.intervalMs) await this.checkpoint();
  }

  async checkpoint(): Promise<void> {
    const record = restoreRecord(this.identity, this.written); // what was written before the flush, and nothing after
    await this.image.flush();
    await this.file.write(record);
    this.lastCheckpoint = Date.now();
  }
}
