import { randomBytes } from 'node:crypto';
import { BlockEncoder, objectNames, SwiftBlockStore } from '@island/blockstore';
import { createCatalogDataSource, entriesAt } from '@island/catalog';
import { IslandStack, localSwift } from '@island/stack';

/**
 * Turns a committed snapshot whose volume wrote only its block 0 into one of a volume whose every block is allocated,
 * as island itself would have stored it: `distinct` sealed blocks under the project's keys in Swift, each filling a
 * stretch of consecutive indexes; their rows and every block version in the catalog (generated in SQL); and the
 * snapshot's manifest rewritten, streamed from those versions with the block store's own writer. Nothing else of the
 * stack is touched: the API, workers and agents then restore, diff and copy it as any snapshot.
 */
export async function inflateSnapshot(
  island: IslandStack,
  snapshotId: string,
  options: { blockCount: number; distinct: number; projectId: string },
): Promise<void> {
  const { blockCount, distinct, projectId } = options;
  const keys = await island.projectKeys(projectId);
  const swift = localSwift('RegionOne');
  const store = new SwiftBlockStore(swift, island.container);
  const catalog = await createCatalogDataSource(island.databaseUrl, 'island-bench-synthetic-snapshot', 2).initialize();
  try {
    const [snapshot] = await catalog.query<SnapshotRow[]>(
      `SELECT s.volume_id, s.seq, s.block_size, s.size_bytes, s.name, s.created_at, s.manifest_object, v.name AS volume_name
         FROM snapshot s JOIN volume v ON v.id = s.volume_id WHERE s.id = $1`,
      [snapshotId],
    );
    const blockSize = snapshot.block_size;
    const stretch = Math.ceil(blockCount / distinct);
    const encoder = new BlockEncoder();
    const names: Buffer[] = [];
    for (let k = 0; k < distinct; k++) {
      const block = encoder.encodeSealed(randomBytes(blockSize), keys, objectNames.block);
      await store.putBlock(block);
      names.push(block.hash);
    }
    await catalog.transaction(async (m) => {
      await m.query(
        `INSERT INTO block (region, hash, size, stored_size, refcount, state, project_id)
         SELECT 'RegionOne', h, $2, $2 + 40, 0, 'present', $3 FROM unnest($1::bytea[]) AS h`,
        [names, blockSize, projectId],
      );
      await m.query(
        `INSERT INTO block_version (volume_id, block_index, hash, first_seq, last_seq)
         SELECT $1, i, ($2::bytea[])[(i / $3) % $4 + 1], $5, NULL FROM generate_series(1, $6 - 1) AS i`,
        [snapshot.volume_id, names, stretch, distinct, snapshot.seq, blockCount],
      );
      await m.query(
        `UPDATE block b SET refcount = b.refcount + c.n FROM
           (SELECT hash, count(*)::int AS n FROM block_version WHERE volume_id = $1 AND block_index > 0 GROUP BY hash) c
          WHERE b.region = 'RegionOne' AND b.hash = c.hash`,
        [snapshot.volume_id],
      );
      await m.query(`UPDATE snapshot SET blocks_total = $2, blocks_done = $2 WHERE id = $1`, [snapshotId, blockCount]);
    });
    await swift.deleteObject(island.container, snapshot.manifest_object);
    const header = {
      blockSize,
      volumeSize: Number(snapshot.size_bytes),
      entryCount: blockCount,
      metadata: {
        volumeId: snapshot.volume_id,
        snapshotId,
        projectId,
        region: 'RegionOne',
        seq: snapshot.seq,
        createdAt: snapshot.created_at.toISOString(),
        name: snapshot.name,
        volumeName: snapshot.volume_name,
      },
    };
    const written = await store.putManifest(header, () => entriesAt(catalog.manager, snapshot.volume_id, snapshot.seq), keys);
    if (written.name !== snapshot.manifest_object) throw new Error(`the manifest was written as ${written.name}, the catalog says ${snapshot.manifest_object}`);
  } finally {
    await catalog.destroy();
    await swift.close();
  }
}

interface SnapshotRow {
  volume_id: string;
  seq: number;
  block_size: number;
  size_bytes: string;
  name: string;
  created_at: Date;
  manifest_object: string;
  volume_name: string;
}
