import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The catalog. Block references are kept as block *versions* with the interval of snapshot sequence
 * numbers that see them ([first_seq, last_seq), last_seq NULL while the version is the volume's head), so
 * committing or deleting a snapshot touches only the versions that changed around it (ARCHITECTURE.md).
 */
export class InitialCatalog1764000000000 implements MigrationInterface {
  name = 'InitialCatalog1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE project (
        id text PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE region (
        name text PRIMARY KEY,
        container text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE host (
        name text PRIMARY KEY,
        region text NOT NULL REFERENCES region(name),
        data_dir text NOT NULL,
        capacity_bytes bigint NOT NULL DEFAULT 0,
        free_bytes bigint NOT NULL DEFAULT 0,
        agent_version text NOT NULL DEFAULT '',
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE volume (
        id uuid PRIMARY KEY,
        project_id text NOT NULL REFERENCES project(id),
        name text NOT NULL DEFAULT '',
        region text NOT NULL REFERENCES region(name),
        size_bytes bigint NOT NULL CHECK (size_bytes > 0),
        block_size integer NOT NULL,
        status text NOT NULL,
        status_reason text,
        host text REFERENCES host(name),
        image_path text,
        attached boolean NOT NULL DEFAULT false,
        source_snapshot_id uuid,
        next_seq integer NOT NULL DEFAULT 1,
        head_seq integer NOT NULL DEFAULT 0,
        head_snapshot_id uuid,
        point_in_time text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      );
      CREATE INDEX volume_project ON volume (project_id) WHERE deleted_at IS NULL;
      CREATE INDEX volume_host ON volume (host) WHERE deleted_at IS NULL;

      CREATE TABLE snapshot (
        id uuid PRIMARY KEY,
        volume_id uuid NOT NULL REFERENCES volume(id),
        project_id text NOT NULL REFERENCES project(id),
        region text NOT NULL REFERENCES region(name),
        seq integer NOT NULL,
        name text NOT NULL DEFAULT '',
        status text NOT NULL,
        status_reason text,
        point_in_time text,
        size_bytes bigint NOT NULL,
        block_size integer NOT NULL,
        manifest_object text,
        blocks_total integer NOT NULL DEFAULT 0,
        blocks_done integer NOT NULL DEFAULT 0,
        bytes_changed bigint NOT NULL DEFAULT 0,
        bytes_uploaded bigint NOT NULL DEFAULT 0,
        blocks_uploaded integer NOT NULL DEFAULT 0,
        blocks_reused integer NOT NULL DEFAULT 0,
        bytes_stored bigint NOT NULL DEFAULT 0,
        group_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        committed_at timestamptz,
        deleted_at timestamptz,
        UNIQUE (volume_id, seq)
      );
      CREATE INDEX snapshot_project ON snapshot (project_id) WHERE deleted_at IS NULL;

      CREATE TABLE block (
        region text NOT NULL REFERENCES region(name),
        hash bytea NOT NULL CHECK (length(hash) = 32),
        size integer NOT NULL,
        stored_size integer NOT NULL DEFAULT 0,
        refcount integer NOT NULL DEFAULT 0 CHECK (refcount >= 0),
        pending integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
        state text NOT NULL CHECK (state IN ('uploading', 'present', 'deleting')),
        zero_since timestamptz,
        deleting_since timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (region, hash)
      );
      CREATE INDEX block_collectable ON block (region, zero_since) WHERE zero_since IS NOT NULL;
      CREATE INDEX block_deleting ON block (region) WHERE state = 'deleting';

      CREATE TABLE block_version (
        id bigserial PRIMARY KEY,
        volume_id uuid NOT NULL REFERENCES volume(id),
        block_index bigint NOT NULL,
        hash bytea NOT NULL,
        first_seq integer NOT NULL,
        last_seq integer,
        CHECK (last_seq IS NULL OR last_seq > first_seq)
      );
      CREATE UNIQUE INDEX block_version_head ON block_version (volume_id, block_index) WHERE last_seq IS NULL;
      CREATE INDEX block_version_first ON block_version (volume_id, first_seq);
      CREATE INDEX block_version_index ON block_version (volume_id, block_index, first_seq);

      CREATE TABLE block_claim (
        snapshot_id uuid NOT NULL REFERENCES snapshot(id),
        region text NOT NULL,
        hash bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (snapshot_id, hash)
      );

      CREATE TABLE snapshot_part (
        snapshot_id uuid NOT NULL REFERENCES snapshot(id),
        part_index integer NOT NULL,
        blocks bigint[] NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'done')),
        done_at timestamptz,
        PRIMARY KEY (snapshot_id, part_index)
      );

      CREATE TABLE snapshot_change (
        snapshot_id uuid NOT NULL REFERENCES snapshot(id),
        block_index bigint NOT NULL,
        hash bytea,
        PRIMARY KEY (snapshot_id, block_index)
      );

      CREATE TABLE job (
        id uuid PRIMARY KEY,
        kind text NOT NULL,
        project_id text,
        resource_type text NOT NULL,
        resource_id uuid NOT NULL,
        status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        progress real NOT NULL DEFAULT 0,
        params jsonb NOT NULL DEFAULT '{}',
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      );
      CREATE INDEX job_resource ON job (resource_id, created_at DESC);

      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        routing_key text NOT NULL,
        contract text NOT NULL,
        version integer NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE outbox, job, snapshot_change, snapshot_part, block_claim, block_version, block, snapshot,
        volume, host, region, project;
    `);
  }
}
