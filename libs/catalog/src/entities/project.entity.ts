import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('project')
export class ProjectEntity {
  @PrimaryColumn('text') id!: string;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
  /** The project's own limits; null: the configured default (ISLAND_QUOTA_*). */
  @Column({ name: 'quota_volumes', type: 'integer', nullable: true }) quotaVolumes!: number | null;
  @Column({ name: 'quota_snapshots', type: 'integer', nullable: true }) quotaSnapshots!: number | null;
  @Column({ name: 'quota_gigabytes', type: 'integer', nullable: true }) quotaGigabytes!: number | null;
  /** Seconds a deleted snapshot stays restorable (0: no recycle bin); null: the configured default (ISLAND_SNAPSHOT_RETENTION_SECONDS). */
  @Column({ name: 'snapshot_retention_seconds', type: 'integer', nullable: true }) snapshotRetentionSeconds!: number | null;
}
