import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ManifestBuilder, ProjectKeyService, RegionStores } from '@island/blockstore';
import { entriesAt } from '@island/catalog';
import { SnapshotManifestWritten, SnapshotWriteManifest, SnapshotWriteManifestJob } from '@island/contracts';
import { MessagePublisher, OnMessage } from '@island/messaging';

/** Writes a committed snapshot's complete block map to Swift, sealed under its project's key, so that Swift alone (with the KEK) can restore it. */
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
    const builder = new ManifestBuilder(job.blockSize, job.sizeBytes, {
      volumeId: job.volumeId,
      snapshotId: job.snapshotId,
      projectId: job.projectId,
      region: job.region,
      seq: job.seq,
      createdAt: job.createdAt,
      name: job.name,
      volumeName: job.volumeName,
      ...(job.copyOf && { copyOf: job.copyOf, replicaOf: job.replicaOf }),
    });
    for await (const page of entriesAt(this.dataSource.manager, job.volumeId, job.seq)) {
      for (const entry of page) builder.add(entry.blockIndex, entry.hash);
    }
    const manifest = builder.build();
    const store = await this.stores.store(job.region);
    const keys = await this.projectKeys.keysForWriting(job.projectId, job.region);
    const { name, bytes } = await store.putManifest(manifest, keys);
    await this.publisher.publish(SnapshotManifestWritten, { snapshotId: job.snapshotId, manifestObject: name, bytes, sealed: true });
  }
}
