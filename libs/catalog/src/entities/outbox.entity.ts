import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** A message written in the same transaction as the state change that implies it; relayed after commit. */
@Entity('outbox')
export class OutboxEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'routing_key', type: 'text' }) routingKey!: string;
  @Column('text') contract!: string;
  @Column('integer') version!: number;
  @Column('jsonb') payload!: object;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
}
