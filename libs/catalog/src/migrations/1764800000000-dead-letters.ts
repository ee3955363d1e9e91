import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Messages that failed for good, moved out of RabbitMQ's dead-letter queue by the API so an operator can list
 * and re-send them; and a dashboard view of operations without recent progress.
 */
export class DeadLetters1764800000000 implements MigrationInterface {
  name = 'DeadLetters1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE dead_letter (
        id bigserial PRIMARY KEY,
        contract text NOT NULL,
        version integer,
        routing_key text NOT NULL,
        queue text,
        reason text NOT NULL,
        payload jsonb NOT NULL,
        failed_at timestamptz NOT NULL,
        archived_at timestamptz NOT NULL DEFAULT now(),
        retried_at timestamptz
      );
      CREATE INDEX dead_letter_failed_at ON dead_letter (failed_at);

      CREATE VIEW island_operations_idle AS
        SELECT kind, count(*) AS running, count(*) FILTER (WHERE updated_at < now() - interval '2 minutes') AS idle_over_2m,
               max(extract(epoch FROM now() - updated_at))::bigint AS longest_idle_seconds
          FROM job WHERE status = 'running' GROUP BY kind;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP VIEW island_operations_idle; DROP TABLE dead_letter`);
  }
}
