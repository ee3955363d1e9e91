import { ManifestReader } from '@island/blockstore';
import { VolumeRestoreJob } from '@island/contracts';
import { BlockRanges } from './block-ranges';

export const RESTORE_RECORD_VERSION = 2;

/** Which restore a partial image belongs to: a progress record is trusted only if every field matches. */
export interface RestoreIdentity {
  operationId: string;
  volumeId: string;
  region: string;
  manifestObject: string;
  /**
   * The manifest object's ETag (MD5): manifests are write-once, so with its name it says which block map the record's
   * ordinals index — a manifest replaced in Swift starts the restore over.
   */
  manifestEtag: string;
  /** The image's virtual size. */
  sizeBytes: number;
  pointInTime: string;
  /** How many entries (non-hole blocks) the manifest has: ordinals are below it. */
  entries: number;
}

/** The progress record beside a partial image, as stored (JSON). */
export interface RestoreRecord extends RestoreIdentity {
  version: typeof RESTORE_RECORD_VERSION;
  /**
   * Ranges of ordinals of the manifest's entries (in block order) whose blocks are in the partial image, written and
   * flushed to disk before this record was.
   */
  written: [number, number][];
}

export type RecordCheck = { trusted: true; written: BlockRanges } | { trusted: false; why: string };

const IDENTITY_FIELDS: (keyof RestoreIdentity)[] = [
  'operationId',
  'volumeId',
  'region',
  'manifestObject',
  'manifestEtag',
  'sizeBytes',
  'pointInTime',
  'entries',
];

export function restoreIdentity(job: VolumeRestoreJob, manifest: ManifestReader): RestoreIdentity {
  return {
    operationId: job.operationId,
    volumeId: job.volumeId,
    region: job.region,
    manifestObject: job.manifestObject,
    manifestEtag: manifest.etag ?? '',
    sizeBytes: job.sizeBytes,
    pointInTime: job.pointInTime,
    entries: manifest.header.entryCount,
  };
}

export function restoreRecord(identity: RestoreIdentity, written: BlockRanges): RestoreRecord {
  return { version: RESTORE_RECORD_VERSION, ...identity, written: written.toJSON() };
}

/** Whether a stored record (its text) belongs to the restore `expected` describes, and if so which blocks it has written. */
export function checkRestoreRecord(text: string, expected: RestoreIdentity): RecordCheck {
  let record: Partial<RestoreRecord>;
  try {
    record = JSON.parse(text) as Partial<RestoreRecord>;
  } catch (error) {
    return { trusted: false, why: `the progress record is not JSON (${(error as Error).message})` };
  }
  if (typeof record !== 'object' || record === null) return { trusted: false, why: 'the progress record is not an object' };
  if (record.version !== RESTORE_RECORD_VERSION)
    return { trusted: false, why: `the progress record has version ${record.version}, not ${RESTORE_RECORD_VERSION}` };
  for (const field of IDENTITY_FIELDS) {
    if (record[field] !== expected[field]) {
      return { trusted: false, why: `the progress record has ${field} ${JSON.stringify(record[field])}, this restore ${JSON.stringify(expected[field])}` };
    }
  }
  try {
    return { trusted: true, written: BlockRanges.fromJSON(record.written, expected.entries) };
  } catch (error) {
    return { trusted: false, why: `the progress record's written blocks are invalid: ${(error as Error).message}` };
  }
}
