import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ManifestMetadata, ProjectKeyService, RegionStores } from '@island/blockstore';
import { countedEntriesAt } from '@island/catalog';
import { SnapshotManifestWritten, SnapshotWriteManifest, SnapshotWriteManifestJob } from '@island/contracts';
import { MessagePublisher, OnMessage } from '@island/messaging';

/**
 * Writes a committed snapshot's complete block map to Swift, sealed under its project's key, so that Swift alone (with the
 * KEK) can restore it.
 */
@Injectable()
export class ManifestJobs {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly publisher: MessagePublisher,
  ) {}

  @OnMessage(SnapshotWriteManifest)
  async writeManifest(job: SnapshotWriteManifestJob): Promise<void> {
    const metadata: ManifestMetadata = {
      volumeId: job.volumeId,
      snapshotId: job.snapshotId,
      projectId: job.projectId,
      region: job.region,
      seq: job.seq,
      createdAt: job.createdAt,
      name: job.name,
      volumeName: job.volumeName,
      ...(job.copyOf && { copyOf: job.copyOf, replicaOf: job.replicaOf }),
    };
    const entries = await countedEntriesAt(this.dataSource.manager, job.volumeId, job.seq);
    const store = await this.stores.store(job.region);
    const keys = await this.projectKeys.keysForWriting(job.projectId, job.region);
    // streamed from the catalog a page at a time: a 4 TiB volume's 128 MiB of names is never held whole
    const header = { blockSize: job.blockSize, volumeSize: job.sizeBytes, metadata, entryCount: entries.count };
    const { name, bytes } = await store.putManifest(header, entries.pages, keys);
    await this.publisher.publish(SnapshotManifestWritten, { snapshotId: job.snapshotId, manifestObject: name, bytes, sealed: true });
  }
}
