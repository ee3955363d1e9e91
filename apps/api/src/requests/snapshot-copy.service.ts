import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IslandConfig } from '@island/config';
import { Catalog, NEW_SNAPSHOT_COUNTERS, SnapshotEntity, SnapshotPlacement, UNPLACED_VOLUME, VolumeEntity } from '@island/catalog';
import { SnapshotCopy } from '@island/contracts';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { SnapshotView } from '../dtos/snapshot.dto';
import { ConflictError, InvalidRequestError } from '../errors/domain-errors';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { reserveQuota } from './quota-check';
import { assertUuid, findSnapshot } from './visible-resources';

/**
 * Copies of snapshots between regions. A copy is a snapshot of the source volume's replica in the target
 * region, with the source's sequence number; any worker moves the blocks the target region lacks, then the
 * copy commits and its manifest is written there like any snapshot's. One live copy per region: asking
 * again returns the copy that exists or is being made.
 */
@Injectable()
export class SnapshotCopyService {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
  ) {}

  async copy(caller: Caller, id: string, region: string): Promise<SnapshotView> {
    assertUuid('snapshot', id);
    return this.uow.run(async (tx) => {
      const copy = await this.ensureCopy(tx, caller, id, region);
      return SnapshotView.of(copy);
    });
  }

  /** The live snapshot holding this snapshot's content in `region` (itself, a copy, or a copy just started). */
  async ensureCopy(tx: Tx, caller: Caller, id: string, region: string): Promise<SnapshotEntity> {
    const { catalog } = tx;
    if (!this.config.regions.some((r) => r.name === region)) throw new InvalidRequestError(`unknown region ${region}`);
    const found = await findSnapshot(catalog, caller, id);
    // every writer locks volume → snapshot; the source volume's lock also serialises copies of its snapshots
    await catalog.volumes.lockRow(found.volumeId);
    const source = await findSnapshot(catalog, caller, id, true);
    const existing = await catalog.copies.liveSnapshotIn(source.copyOf ?? source.id, region);
    if (existing) return existing;
    if (source.status !== 'available' || !source.manifestObject) {
      throw new ConflictError(`snapshot ${source.id} is ${source.status}; it can be copied once it is available`);
    }
    const replica = await this.replicaFor(catalog, source, region);
    await reserveQuota(catalog, this.config, source.projectId, { snapshots: 1 });
    const copy = await catalog.snapshots.add({
      ...source,
      id: randomUUID(),
      volumeId: replica.id,
      region,
      status: 'uploading',
      statusReason: null,
      pointInTime: null,
      manifestObject: null,
      manifestSealed: false,
      ...NEW_SNAPSHOT_COUNTERS,
      copyOf: source.copyOf ?? source.id,
      copiedFrom: source.id,
      copyTransfer: null,
      createdAt: new Date(),
      updatedAt: new Date(),
      committedAt: null,
      deletedAt: null,
    });
    await catalog.jobs.start(
      'snapshot-copy',
      { type: 'snapshot', id: copy.id, projectId: copy.projectId },
      { from: source.id, fromRegion: source.region, region },
    );
    await tx.send(SnapshotCopy, {
      snapshotId: copy.id,
      projectId: copy.projectId,
      region,
      sourceSnapshotId: source.id,
      sourceRegion: source.region,
      sourceManifest: source.manifestObject,
      sourceManifestSealed: source.manifestSealed,
      blockSize: source.blockSize,
      sizeBytes: source.sizeBytes,
    });
    return copy;
  }

  /** Every region holding this snapshot's content, the original's first. */
  placements(id: string): Promise<SnapshotPlacement[]> {
    return this.uow.read((catalog) => catalog.copies.placements(id));
  }

  /** The hidden volume that holds copies of the source volume's snapshots in `region`; made on first use. */
  private async replicaFor(catalog: Catalog, source: SnapshotEntity, region: string): Promise<VolumeEntity> {
    const origin = await catalog.volumes.get(source.volumeId);
    const of = origin.replicaOf ?? origin.id;
    // copies of one volume's content reach a region from its own snapshots and from other regions' copies: the
    // source volume's lock serialises them
    if (of !== origin.id) await catalog.volumes.lockRow(of);
    const existing = await catalog.copies.replicaIn(of, region);
    if (existing) {
      if (existing.sizeBytes < source.sizeBytes) await catalog.volumes.resize(existing.id, source.sizeBytes);
      return existing;
    }
    return catalog.volumes.add({
      id: randomUUID(),
      projectId: source.projectId,
      name: origin.name,
      region,
      sizeBytes: source.sizeBytes,
      blockSize: source.blockSize,
      status: 'replica',
      ...UNPLACED_VOLUME,
      managedBy: null,
      replicaOf: of,
      sourceSnapshotId: null,
    });
  }
}
