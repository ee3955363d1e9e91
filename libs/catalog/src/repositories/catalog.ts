import { EntityManager } from 'typeorm';
import { DeadLetterRepository } from './dead-letter.repository';
import { ProjectKeyRepository } from './project-key.repository';
import { HostRepository } from './host.repository';
import { JobRepository } from './job.repository';
import { LedgerRepository } from './ledger.repository';
import { OutboxRepository } from './outbox.repository';
import { ProjectRepository } from './project.repository';
import { RegionCopyRepository } from './region-copy.repository';
import { RegionRepository } from './region.repository';
import { SnapshotUploadRepository } from './snapshot-upload.repository';
import { SnapshotRepository } from './snapshot.repository';
import { VolumeRepository } from './volume.repository';

/** Every catalog repository over one entity manager: one transaction's (or, outside one, plain reads') view. */
export class Catalog {
  readonly volumes: VolumeRepository;
  readonly snapshots: SnapshotRepository;
  readonly uploads: SnapshotUploadRepository;
  readonly copies: RegionCopyRepository;
  readonly ledger: LedgerRepository;
  readonly jobs: JobRepository;
  readonly hosts: HostRepository;
  readonly projects: ProjectRepository;
  readonly regions: RegionRepository;
  readonly outbox: OutboxRepository;
  readonly deadLetters: DeadLetterRepository;
  readonly projectKeys: ProjectKeyRepository;

  constructor(m: EntityManager) {
    this.volumes = new VolumeRepository(m);
    this.snapshots = new SnapshotRepository(m);
    this.uploads = new SnapshotUploadRepository(m);
    this.copies = new RegionCopyRepository(m);
    this.ledger = new LedgerRepository(m);
    this.jobs = new JobRepository(m);
    this.hosts = new HostRepository(m);
    this.projects = new ProjectRepository(m);
    this.regions = new RegionRepository(m);
    this.outbox = new OutboxRepository(m);
    this.deadLetters = new DeadLetterRepository(m);
    this.projectKeys = new ProjectKeyRepository(m);
  }
}
