import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './bigint.transformer';

@Entity('host')
export class HostEntity {
  @PrimaryColumn('text') name!: string;
  @Column('text') region!: string;
  @Column({ name: 'data_dir', type: 'text' }) dataDir!: string;
  @Column({ name: 'capacity_bytes', type: 'bigint', transformer: bigintToNumber }) capacityBytes!: number;
  @Column({ name: 'free_bytes', type: 'bigint', transformer: bigintToNumber }) freeBytes!: number;
  @Column({ name: 'agent_version', type: 'text' }) agentVersion!: string;
  @Column({ name: 'last_seen_at', type: 'timestamptz' }) lastSeenAt!: Date;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
}
