import { Column, Entity, PrimaryColumn } from 'typeorm';

export type JobStatus = 'running' | 'succeeded' | 'failed';

/** One long operation (snapshot, attach, revert, delete, gc…): what the CLI waits on and dashboards show. */
@Entity('job')
export class JobEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') kind!: string;
  @Column({ name: 'project_id', type: 'text', nullable: true }) projectId!: string | null;
  @Column({ name: 'resource_type', type: 'text' }) resourceType!: string;
  @Column({ name: 'resource_id', type: 'uuid' }) resourceId!: string;
  @Column('text') status!: JobStatus;
  @Column('real') progress!: number;
  /** What the operation needs to finish when its last event arrives (e.g. a revert's target snapshot). */
  @Column('jsonb') params!: Record<string, unknown>;
  @Column({ type: 'text', nullable: true }) error!: string | null;
  /** The report of an operation that has one (GC run, fsck, rebuild), once it succeeded. */
  @Column({ type: 'jsonb', nullable: true }) result!: Record<string, unknown> | null;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' }) updatedAt!: Date;
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
}
