import { createHash, randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../testing/test-database';
import { claimBlocks, markBlocksPresent, releaseClaims } from './block-claims';
import { takeOverAbandonedMarks } from './abandoned-marks';
import { forgetDeletedBlocks, markBlocksForDeletion, unmarkBlocks } from './block-collection';
import { entriesAt } from './ledger-entries';
import {
  commitCopyVersions,
  commitSnapshotVersions,
  LedgerSnapshot,
  removeSnapshotVersions,
  removeVolumeVersions,
  revertVolumeVersions,
  seedVolumeFromSnapshot,
} from './snapshot-ledger';
import { stageSnapshotChanges } from './snapshot-changes';
import { changedBlockIndexes } from './snapshot-contents';
import { sqlRows } from './sql-rows';
import { LEDGER_STATUSES } from '../entities/snapshot.entity';

const REGION = 'r1';
const OTHER_REGION = 'r2';
const hashOf = (content: number) => createHash('sha256').update(`block-${content}`).digest();

/** A deterministic PRNG so a failing sequence can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Content = Map<number, number>; // block index → content id (absent = hole)

/** A node of EXPLAIN (ANALYZE, FORMAT JSON)'s plan, with the counts this spec reads. */
interface PlanNode {
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Join Filter'?: number;
  Plans?: PlanNode[];
}

describe('snapshot ledger', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.dataSource.query(
      `INSERT INTO project (id) VALUES ('p'); INSERT INTO region (name, container) VALUES ('${REGION}', 'c'), ('${OTHER_REGION}', 'c')`,
    );
  });
  afterAll(async () => db?.drop());

  const tx = <T>(fn: (m: EntityManager) => Promise<T>) => db.dataSource.transaction(fn);

  async function newVolume(region = REGION): Promise<string> {
    const id = randomUUID();
    await db.dataSource.query(`INSERT INTO volume (id, project_id, region, size_bytes, block_size, status) VALUES ($1, 'p', $2, 1048576, 65536, 'available')`, [
      id,
      region,
    ]);
    return id;
  }

  async function nextSeq(volumeId: string): Promise<number> {
    const [row] = await sqlRows<{ seq: number }>(
      db.dataSource.manager,
      `UPDATE volume SET next_seq = next_seq + 1 WHERE id = $1 RETURNING next_seq - 1 AS seq`,
      [volumeId],
    );
    return row.seq;
  }

  /** A new snapshot row of the volume, uploading, at its next sequence number. */
  async function uploadingSnapshot(volumeId: string): Promise<LedgerSnapshot> {
    const s: LedgerSnapshot = { id: randomUUID(), volumeId, region: REGION, seq: await nextSeq(volumeId) };
    await db.dataSource.query(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size) VALUES ($1, $2, 'p', $3, $4, 'uploading', 1048576, 65536)`,
      [s.id, volumeId, REGION, s.seq],
    );
    return s;
  }

  /** Stages changes, claims and uploads their blocks the way workers do, and commits them as a snapshot. */
  async function snapshot(volumeId: string, changes: Map<number, number | null>): Promise<LedgerSnapshot> {
    const s = await uploaded(volumeId, changes);
    await tx((m) => commitSnapshotVersions(m, s));
    await db.dataSource.query(`UPDATE snapshot SET status = 'available' WHERE id = $1`, [s.id]);
    return s;
  }

  /** An uploading snapshot whose changes are staged and whose blocks are claimed and present: ready to commit. */
  async function uploaded(volumeId: string, changes: Map<number, number | null>): Promise<LedgerSnapshot> {
    const s = await uploadingSnapshot(volumeId);
    const blocks = [...changes.values()].filter((c): c is number => c !== null).map((c) => ({ hash: hashOf(c), size: 65536 }));
    await tx(async (m) => {
      const claim = await claimBlocks(m, s.id, REGION, blocks);
      await markBlocksPresent(
        m,
        REGION,
        claim.upload.map((hash) => ({ hash, storedSize: 100 })),
      );
    });
    await stageSnapshotChanges(
      db.dataSource.manager,
      s.id,
      0,
      [...changes.keys()],
      [...changes.values()].map((content) => (content === null ? null : hashOf(content))),
    );
    return s;
  }

  async function remove(s: LedgerSnapshot): Promise<void> {
    await tx((m) => removeSnapshotVersions(m, s));
    await db.dataSource.query(`UPDATE snapshot SET status = 'deleted' WHERE id = $1`, [s.id]);
  }

  async function contentAt(volumeId: string, seq: number): Promise<Content> {
    const out: Content = new Map();
    const byHash = new Map<string, number>();
    for (let c = 0; c < 5000; c++) byHash.set(hashOf(c).toString('hex'), c);
    await tx(async (m) => {
      for await (const page of entriesAt(m, volumeId, seq)) {
        for (const e of page) out.set(e.index, byHash.get(e.hash.toString('hex'))!);
      }
    });
    return out;
  }

  /** Every reference and claim count equals what the version and claim rows say, and no version is dead. */
  async function expectConsistentCounts(): Promise<void> {
    const versions = `(SELECT count(*) FROM block_version v JOIN volume vol ON vol.id = v.volume_id WHERE v.hash = b.hash AND vol.region = b.region)`;
    const claims = `(SELECT count(*) FROM block_claim c WHERE c.hash = b.hash AND c.region = b.region)`;
    const wrong = await db.dataSource.query(`
      SELECT b.region, b.hash, b.refcount, b.pending, ${versions} AS versions, ${claims} AS claims
        FROM block b
       WHERE b.refcount <> ${versions}
          OR b.pending <> ${claims}
          OR (b.refcount = 0 AND b.pending = 0) <> (b.zero_since IS NOT NULL)`);
    expect(wrong).toEqual([]);
    const dead = await db.dataSource.query(
      `
      SELECT v.id FROM block_version v
       WHERE v.last_seq IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM snapshot s WHERE s.volume_id = v.volume_id AND s.status = ANY($1)
                          AND s.seq >= v.first_seq AND s.seq < v.last_seq)`,
      [LEDGER_STATUSES],
    );
    expect(dead).toEqual([]);
  }

  /** The indexes whose content differs between two contents of the model, ascending. */
  const differing = (a: Content, b: Content) => [...new Set([...a.keys(), ...b.keys()])].filter((i) => a.get(i) !== b.get(i)).sort((x, y) => x - y);

  it('keeps every snapshot readable and every count exact through random writes, deletes and reverts, and lists the blocks changed between any two as the model does', async () => {
    const random = rng(20261123);
    const volumeId = await newVolume();
    let head: Content = new Map();
    let nextContent = 1;
    const live: { s: LedgerSnapshot; content: Content }[] = [];

    for (let step = 0; step < 60; step++) {
      const roll = random();
      if (roll < 0.55 || live.length === 0) {
        const changes = new Map<number, number | null>();
        const n = 1 + Math.floor(random() * 6);
        for (let i = 0; i < n; i++) {
          const index = Math.floor(random() * 16);
          const r = random();
          // rewrite with new content, with an old content (dedup), with the same content, or punch a hole
          const content = r < 0.5 ? nextContent++ : r < 0.7 ? 1 + Math.floor(random() * nextContent) : r < 0.85 ? (head.get(index) ?? null) : null;
          changes.set(index, content);
        }
        const s = await snapshot(volumeId, changes);
        for (const [index, content] of changes) {
          if (content === null) head.delete(index);
          else head.set(index, content);
        }
        live.push({ s, content: new Map(head) });
      } else if (roll < 0.85) {
        const [gone] = live.splice(Math.floor(random() * live.length), 1);
        await remove(gone.s);
      } else {
        const target = live[Math.floor(random() * live.length)];
        const seq = await nextSeq(volumeId);
        await tx((m) => revertVolumeVersions(m, target.s, seq));
        head = new Map(target.content);
      }
      await expectConsistentCounts();
      for (const { s, content } of live) expect(await contentAt(volumeId, s.seq)).toEqual(content);
      for (const [k, b] of live.entries()) {
        expect(await tx((m) => changedBlockIndexes(m, volumeId, null, b.s.seq, -1, 100))).toEqual(differing(new Map(), b.content));
        for (const a of live.slice(0, k)) {
          expect(await tx((m) => changedBlockIndexes(m, volumeId, a.s.seq, b.s.seq, -1, 100))).toEqual(differing(a.content, b.content));
        }
      }
      const [{ head_seq }] = await db.dataSource.query(`SELECT head_seq FROM volume WHERE id = $1`, [volumeId]);
      expect(await contentAt(volumeId, head_seq)).toEqual(head);
    }
  }, 120_000);

  it('refuses to commit a snapshot whose blocks are not all present, counting each missing block once, and changes nothing', async () => {
    const volumeId = await newVolume();
    const kept = await snapshot(volumeId, new Map([[0, 4501]]));
    const s = await uploadingSnapshot(volumeId);
    // block 4502 is claimed but its upload never reported; 4501 is present (the kept snapshot's); 4502 appears twice
    await tx((m) => claimBlocks(m, s.id, REGION, [{ hash: hashOf(4502), size: 65536 }]));
    await stageSnapshotChanges(db.dataSource.manager, s.id, 0, [0, 1, 2], [hashOf(4501), hashOf(4502), hashOf(4502)]);

    await expect(tx((m) => commitSnapshotVersions(m, s))).rejects.toThrow(`1 block(s) the snapshot references are not present in region ${REGION}`);

    expect(await contentAt(volumeId, kept.seq)).toEqual(new Map([[0, 4501]]));
    const [volume] = await sqlRows<{ head_seq: number }>(db.dataSource.manager, `SELECT head_seq FROM volume WHERE id = $1`, [volumeId]);
    expect(volume.head_seq).toBe(kept.seq);
    await tx((m) => releaseClaims(m, s.id, REGION));
    await db.dataSource.query(`UPDATE snapshot SET status = 'error' WHERE id = $1`, [s.id]);
    await db.dataSource.query(`DELETE FROM snapshot_change_batch WHERE snapshot_id = $1`, [s.id]);
  });

  it('refuses to commit a snapshot referencing a block the catalog has no row for, as not present, and changes nothing', async () => {
    const volumeId = await newVolume();
    const kept = await snapshot(volumeId, new Map([[0, 4601]]));
    const s = await uploadingSnapshot(volumeId);
    // 4602 was never claimed nor uploaded: no block row at all
    await stageSnapshotChanges(db.dataSource.manager, s.id, 0, [0, 1], [hashOf(4601), hashOf(4602)]);

    await expect(tx((m) => commitSnapshotVersions(m, s))).rejects.toThrow(`1 block(s) the snapshot references are not present in region ${REGION}`);

    expect(await contentAt(volumeId, kept.seq)).toEqual(new Map([[0, 4601]]));
    const [block] = await sqlRows<{ refcount: number }>(db.dataSource.manager, `SELECT refcount FROM block WHERE region = $1 AND hash = $2`, [
      REGION,
      hashOf(4601),
    ]);
    expect(block.refcount).toBe(1);
    await db.dataSource.query(`UPDATE snapshot SET status = 'error' WHERE id = $1`, [s.id]);
    await db.dataSource.query(`DELETE FROM snapshot_change_batch WHERE snapshot_id = $1`, [s.id]);
  });

  it("commits a change reading each head of the volume at most once, not once for every staged block, before the volume's versions were ever analyzed", async () => {
    const volumeId = await newVolume();
    const blocks = 3_000;
    await snapshot(volumeId, new Map(Array.from({ length: blocks }, (_, i): [number, number | null] => [i, 20_000 + i])));
    // three blocks rewritten, one staged again with the content it has, one punched out
    const change = new Map<number, number | null>([
      [3, 40_003],
      [2_000, 42_000],
      [2_999, 42_999],
      [7, 20_007],
      [8, null],
    ]);
    const s = await uploaded(volumeId, change);

    // the session's counts of rows read, before and after, within the commit's transaction: the counts it has not reported
    // yet include its earlier transactions', and it reports none while a transaction is open
    const rowsReadSoFar = async (m: EntityManager) => {
      const [read] = await sqlRows<{ rows: string }>(
        m,
        `SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) AS rows FROM pg_stat_xact_user_tables WHERE relname = 'block_version'`,
      );
      return Number(read.rows);
    };
    const rowsRead = await tx(async (m) => {
      const before = await rowsReadSoFar(m);
      await commitSnapshotVersions(m, s);
      return (await rowsReadSoFar(m)) - before;
    });

    // ending the replaced heads may hash them all (3,000); checking each staged block against every head read them again
    expect(rowsRead).toBeLessThan(blocks + 50);
    const heads = new Map<number, string>();
    await tx(async (m) => {
      for await (const page of entriesAt(m, volumeId, s.seq)) for (const e of page) heads.set(e.index, e.hash.toString('hex'));
    });
    expect(heads.size).toBe(blocks - 1);
    for (const [index, content] of change) expect(heads.get(index)).toBe(content === null ? undefined : hashOf(content).toString('hex'));
    expect(heads.get(5)).toBe(hashOf(20_005).toString('hex'));
    await expectConsistentCounts();
  });

  it("deletes a snapshot of 1,000 blocks of its own doing work linear in its blocks, not in their square, before the volume's versions were ever analyzed", async () => {
    const volumeId = await newVolume();
    const blocks = 1_000;
    const content = (base: number) => new Map(Array.from({ length: blocks }, (_, i): [number, number | null] => [i, base + i]));
    await snapshot(volumeId, content(50_000));
    const middle = await snapshot(volumeId, content(60_000));
    await snapshot(volumeId, content(70_000));

    // every statement of the delete runs under EXPLAIN ANALYZE first (in the same transaction, then rolled back to before
    // it): the rows each plan node produced and filtered out, over all its loops; comparing each block with every other
    // one is ~blocks² rows
    let rowsHandled = 0;
    const count = (node: PlanNode): void => {
      rowsHandled +=
        ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Join Filter'] ?? 0)) * (node['Actual Loops'] ?? 1);
      for (const child of node.Plans ?? []) count(child);
    };
    await tx(async (m) => {
      const explaining = new Proxy(m, {
        get(target, key, receiver) {
          if (key !== 'query') return Reflect.get(target, key, receiver);
          return async (sql: string, params?: unknown[]) => {
            if (/^\s*(WITH|SELECT|UPDATE|DELETE)/i.test(sql)) {
              await target.query('SAVEPOINT explained');
              const [explained] = await target.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
              await target.query('ROLLBACK TO SAVEPOINT explained');
              count((explained['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan);
            }
            return target.query(sql, params);
          };
        },
      });
      await removeSnapshotVersions(explaining, middle);
    });
    await db.dataSource.query(`UPDATE snapshot SET status = 'deleted' WHERE id = $1`, [middle.id]);

    expect(rowsHandled).toBeGreaterThan(blocks);
    expect(rowsHandled).toBeLessThan(40 * blocks);
    // the middle snapshot's blocks are freed; the first's and the last's keep their one reference each
    const referenced = async (base: number) => {
      const hashes = Array.from({ length: blocks }, (_, i) => hashOf(base + i));
      const rows = await sqlRows<{ refcount: number; n: string }>(
        db.dataSource.manager,
        `SELECT refcount, count(*) AS n FROM block WHERE region = $1 AND hash = ANY($2) GROUP BY refcount`,
        [REGION, hashes],
      );
      return rows.map((r) => [r.refcount, Number(r.n)]);
    };
    expect(await referenced(50_000)).toEqual([[1, blocks]]);
    expect(await referenced(60_000)).toEqual([[0, blocks]]);
    expect(await referenced(70_000)).toEqual([[1, blocks]]);

    // gone again, versions and blocks alike: the specs after this one count and collect every block of the region
    await db.dataSource.query(`DELETE FROM block_version WHERE volume_id = $1`, [volumeId]);
    await db.dataSource.query(`UPDATE snapshot SET status = 'deleted' WHERE volume_id = $1`, [volumeId]);
    for (const base of [50_000, 60_000, 70_000]) {
      const hashes = Array.from({ length: blocks }, (_, i) => hashOf(base + i));
      await db.dataSource.query(`DELETE FROM block WHERE region = $1 AND hash = ANY($2)`, [REGION, hashes]);
    }
    await db.dataSource.query(`VACUUM block, block_version`);
  });

  it('frees exactly the blocks only the deleted snapshot used, whichever order snapshots are deleted in', async () => {
    const volumeId = await newVolume();
    const s1 = await snapshot(
      volumeId,
      new Map([
        [0, 1001],
        [1, 1002],
        [2, 1003],
      ]),
    );
    const s2 = await snapshot(volumeId, new Map([[1, 1004]]));
    const s3 = await snapshot(
      volumeId,
      new Map([
        [1, 1005],
        [2, null],
      ]),
    );
    const refs = async (c: number) => Number((await db.dataSource.query(`SELECT refcount FROM block WHERE hash = $1`, [hashOf(c)]))[0].refcount);

    await remove(s2); // the middle: only 1004 was its own
    expect(await refs(1004)).toBe(0);
    expect([await refs(1001), await refs(1002), await refs(1003), await refs(1005)]).toEqual([1, 1, 1, 1]);
    await remove(s1); // the first: 1002 and 1003 were seen by s1 only; 1001 is still the head
    expect([await refs(1001), await refs(1002), await refs(1003)]).toEqual([1, 0, 0]);
    await remove(s3); // the last: the head still holds 1001 and 1005
    expect([await refs(1001), await refs(1005)]).toEqual([1, 1]);
    await tx((m) => removeVolumeVersions(m, volumeId, REGION));
    expect([await refs(1001), await refs(1005)]).toEqual([0, 0]);
    await expectConsistentCounts();
  });

  it("keeps a recycled snapshot's blocks through the deletes, commits and reverts around it, and its purge frees what a delete would", async () => {
    const volumeId = await newVolume();
    const s1 = await snapshot(
      volumeId,
      new Map([
        [0, 4501],
        [1, 4502],
      ]),
    );
    const s2 = await snapshot(volumeId, new Map([[1, 4503]]));
    const s3 = await snapshot(volumeId, new Map([[1, 4504]]));
    const s2Content = await contentAt(volumeId, s2.seq);
    const refs = async (c: number) => Number((await db.dataSource.query(`SELECT refcount FROM block WHERE hash = $1`, [hashOf(c)]))[0].refcount);
    const setStatus = (s: LedgerSnapshot, status: string) => db.dataSource.query(`UPDATE snapshot SET status = $2 WHERE id = $1`, [s.id, status]);

    await setStatus(s2, 'recycled'); // into the bin: its versions stay
    await remove(s3);
    await snapshot(volumeId, new Map([[1, 4505]])); // the head moves on past it
    const seq = await nextSeq(volumeId);
    await tx((m) => revertVolumeVersions(m, s1, seq)); // and back before it
    await remove(s1);
    expect(await refs(4503)).toBe(1); // seen by the recycled snapshot alone
    expect(await contentAt(volumeId, s2.seq)).toEqual(s2Content);
    await expectConsistentCounts();

    await setStatus(s2, 'available'); // undeleted: readable as before
    expect(await contentAt(volumeId, s2.seq)).toEqual(s2Content);
    await setStatus(s2, 'recycled');
    await remove(s2); // the purge: exactly a delete
    expect(await refs(4503)).toBe(0);
    expect(await refs(4504)).toBe(0);
    await expectConsistentCounts();
  });

  it('lets a new volume share every block of the snapshot it is created from', async () => {
    const source = await newVolume();
    const s = await snapshot(
      source,
      new Map([
        [0, 2001],
        [5, 2002],
      ]),
    );
    const clone = await newVolume();
    await tx((m) => seedVolumeFromSnapshot(m, clone, s));
    expect(await contentAt(clone, 0)).toEqual(
      new Map([
        [0, 2001],
        [5, 2002],
      ]),
    );
    const [row] = await db.dataSource.query(`SELECT refcount FROM block WHERE hash = $1`, [hashOf(2001)]);
    expect(row.refcount).toBe(2);
    await expectConsistentCounts();
  });

  it('refuses to seed a volume from a snapshot one of whose blocks has no row, changing nothing; a block in its grace window leaves it', async () => {
    const source = await newVolume();
    const s = await snapshot(
      source,
      new Map([
        [0, 2101],
        [1, 2102],
        [2, 2101],
      ]),
    );
    await db.dataSource.query(`UPDATE block SET zero_since = now() WHERE hash = $1`, [hashOf(2101)]);
    const [deleted] = (await db.dataSource.query(`DELETE FROM block WHERE hash = $1 RETURNING *`, [hashOf(2102)])) as [Record<string, unknown>[], number];
    const clone = await newVolume();
    await expect(tx((m) => seedVolumeFromSnapshot(m, clone, s))).rejects.toThrow('1 referenced block(s) are missing from the catalog');
    expect(await contentAt(clone, 0)).toEqual(new Map());
    const [kept] = await db.dataSource.query(`SELECT refcount FROM block WHERE hash = $1`, [hashOf(2101)]);
    expect(kept.refcount).toBe(2);

    const row = deleted[0];
    const columns = Object.keys(row);
    await db.dataSource.query(
      `INSERT INTO block (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      columns.map((c) => row[c]),
    );
    await tx((m) => seedVolumeFromSnapshot(m, clone, s));
    const [raised] = await db.dataSource.query(`SELECT refcount, zero_since FROM block WHERE hash = $1`, [hashOf(2101)]);
    expect(raised).toEqual({ refcount: 4, zero_since: null });
    await expectConsistentCounts();
  });

  it('takes copies into a replica and drops them in any order, each readable and every count exact', async () => {
    const random = rng(77);
    const volumeId = await newVolume();
    const originals: { s: LedgerSnapshot; content: Content }[] = [];
    const model: Content = new Map();
    for (let k = 0; k < 5; k++) {
      const changes = new Map<number, number | null>();
      for (let i = 0; i < 6; i++) changes.set(Math.floor(random() * 16), random() < 0.2 ? null : 4900 + Math.floor(random() * 12));
      for (const [index, c] of changes) {
        if (c === null) model.delete(index);
        else model.set(index, c);
      }
      originals.push({ s: await snapshot(volumeId, changes), content: new Map(model) });
    }
    const replica = await newVolume(OTHER_REGION);
    const copyOf = async (original: { s: LedgerSnapshot; content: Content }): Promise<LedgerSnapshot> => {
      const c: LedgerSnapshot = { id: randomUUID(), volumeId: replica, region: OTHER_REGION, seq: original.s.seq };
      await db.dataSource.query(
        `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size, copy_of) VALUES ($1, $2, 'p', $3, $4, 'uploading', 1048576, 65536, $5)`,
        [c.id, replica, OTHER_REGION, c.seq, original.s.id],
      );
      await tx(async (m) => {
        const claim = await claimBlocks(
          m,
          c.id,
          OTHER_REGION,
          [...original.content.values()].map((content) => ({ hash: hashOf(content), size: 65536 })),
        );
        await markBlocksPresent(
          m,
          OTHER_REGION,
          claim.upload.map((hash) => ({ hash, storedSize: 100 })),
        );
      });
      const map = [...original.content];
      await stageSnapshotChanges(
        db.dataSource.manager,
        c.id,
        0,
        map.map(([index]) => index),
        map.map(([, content]) => hashOf(content)),
      );
      await tx((m) => commitCopyVersions(m, c));
      await db.dataSource.query(`UPDATE snapshot SET status = 'available' WHERE id = $1`, [c.id]);
      return c;
    };
    const order = [3, 0, 4, 1, 2];
    const copies = new Map<number, LedgerSnapshot>();
    for (const k of order) {
      copies.set(k, await copyOf(originals[k]));
      for (const [j] of copies) expect(await contentAt(replica, originals[j].s.seq)).toEqual(originals[j].content);
      await expectConsistentCounts();
    }
    // the originals go; the copies keep their blocks alive
    for (const o of originals) await remove(o.s);
    await tx((m) => removeVolumeVersions(m, volumeId, REGION));
    await expectConsistentCounts();
    for (const k of [2, 4, 0, 3, 1]) {
      await remove(copies.get(k)!);
      copies.delete(k);
      for (const [j] of copies) expect(await contentAt(replica, originals[j].s.seq)).toEqual(originals[j].content);
      await expectConsistentCounts();
    }
    const [left] = await sqlRows<{ n: string }>(db.dataSource.manager, `SELECT count(*) AS n FROM block_version WHERE volume_id = $1`, [replica]);
    expect(Number(left.n)).toBe(0);
  });

  it('keeps claimed blocks out of the grace window until the claim is released', async () => {
    const volumeId = await newVolume();
    const s: LedgerSnapshot = { id: randomUUID(), volumeId, region: REGION, seq: await nextSeq(volumeId) };
    await db.dataSource.query(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size) VALUES ($1, $2, 'p', $3, $4, 'uploading', 1, 1)`,
      [s.id, volumeId, REGION, s.seq],
    );
    const first = await tx((m) => claimBlocks(m, s.id, REGION, [{ hash: hashOf(3001), size: 1 }]));
    expect(first.upload).toHaveLength(1);
    const again = await tx((m) => claimBlocks(m, s.id, REGION, [{ hash: hashOf(3001), size: 1 }]));
    expect(again.upload).toHaveLength(1);
    const [claimed] = await db.dataSource.query(`SELECT pending, zero_since FROM block WHERE hash = $1`, [hashOf(3001)]);
    expect(claimed).toEqual({ pending: 1, zero_since: null });
    await tx((m) => releaseClaims(m, s.id, REGION));
    const [released] = await db.dataSource.query(`SELECT pending, zero_since FROM block WHERE hash = $1`, [hashOf(3001)]);
    expect(released.pending).toBe(0);
    expect(released.zero_since).toBeInstanceOf(Date);
  });

  it('refuses to claim a block GC is deleting, and claims nothing of that batch', async () => {
    const volumeId = await newVolume();
    const snapshotId = randomUUID();
    await db.dataSource.query(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size) VALUES ($1, $2, 'p', $3, $4, 'uploading', 1, 1)`,
      [snapshotId, volumeId, REGION, await nextSeq(volumeId)],
    );
    await db.dataSource.query(`INSERT INTO block (region, hash, size, state) VALUES ($1, $2, 1, 'deleting')`, [REGION, hashOf(4001)]);
    await expect(
      tx((m) =>
        claimBlocks(m, snapshotId, REGION, [
          { hash: hashOf(4002), size: 1 },
          { hash: hashOf(4001), size: 1 },
        ]),
      ),
    ).rejects.toThrow(/being deleted by GC/);
    expect(await sqlRows(db.dataSource.manager, `SELECT 1 FROM block_claim WHERE snapshot_id = $1`, [snapshotId])).toEqual([]);
  });

  it('refuses claims for a snapshot that failed or was deleted, so no claim outlives its snapshot', async () => {
    const snapshotId = (await uploadingSnapshot(await newVolume())).id;
    await db.dataSource.query(`UPDATE snapshot SET status = 'error' WHERE id = $1`, [snapshotId]);
    await expect(tx((m) => claimBlocks(m, snapshotId, REGION, [{ hash: hashOf(5001), size: 1 }]))).rejects.toThrow(/is error, no longer uploading/);
    expect(await sqlRows(db.dataSource.manager, `SELECT 1 FROM block_claim WHERE snapshot_id = $1`, [snapshotId])).toEqual([]);
  });

  it('lets only the GC run holding the mark forget a block, and never marks a claimed one', async () => {
    const snapshotId = (await uploadingSnapshot(await newVolume())).id;
    await tx((m) =>
      claimBlocks(m, snapshotId, REGION, [
        { hash: hashOf(6001), size: 1 },
        { hash: hashOf(6002), size: 1 },
      ]),
    );
    await tx((m) =>
      markBlocksPresent(m, REGION, [
        { hash: hashOf(6001), storedSize: 10 },
        { hash: hashOf(6002), storedSize: 10 },
      ]),
    );
    await tx((m) => releaseClaims(m, snapshotId, REGION));
    const claimer = (await uploadingSnapshot(await newVolume())).id;
    await tx((m) => claimBlocks(m, claimer, REGION, [{ hash: hashOf(6002), size: 1 }]));

    const [first, second] = ['a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002'];
    await leaseRows(first, second);
    const marked = await tx((m) => markBlocksForDeletion(m, REGION, 0, 1000, first));
    const markedHex = marked.map((b) => b.hash.toString('hex'));
    expect(markedHex).toContain(hashOf(6001).toString('hex'));
    expect(markedHex).not.toContain(hashOf(6002).toString('hex')); // claimed: out of GC's reach
    // the first run's lease ended past the takeover margin, and no session holds it: it died
    await db.dataSource.query(`UPDATE gc_lease SET lease_until = now() - interval '11 seconds' WHERE token = $1`, [first]);
    const takenOver = await tx((m) => takeOverAbandonedMarks(m, REGION, 1000, second));
    expect(takenOver.map((b) => b.hash.toString('hex'))).toContain(hashOf(6001).toString('hex'));
    expect(await tx((m) => forgetDeletedBlocks(m, REGION, [hashOf(6001)], first))).toBe(0);
    expect(await tx((m) => forgetDeletedBlocks(m, REGION, [hashOf(6001)], second))).toBe(1);
  });

  /** Lease rows as GC runs hold them (gc-lease.spec.ts tests the leases themselves), live for an hour. */
  async function leaseRows(...tokens: string[]): Promise<void> {
    for (const token of tokens) {
      await db.dataSource.query(`INSERT INTO gc_lease (token, region, holder, lease_until) VALUES ($1, $2, 'test', now() + interval '1 hour')`, [
        token,
        REGION,
      ]);
    }
  }

  it('gives marks back as not-known-present, and only to the run holding them', async () => {
    const snapshotId = (await uploadingSnapshot(await newVolume())).id;
    await tx((m) => claimBlocks(m, snapshotId, REGION, [{ hash: hashOf(7001), size: 1 }]));
    await tx((m) => markBlocksPresent(m, REGION, [{ hash: hashOf(7001), storedSize: 10 }]));
    await tx((m) => releaseClaims(m, snapshotId, REGION));
    const token = 'c0000000-0000-4000-8000-000000000003';
    await leaseRows(token);
    const marked = await tx((m) => markBlocksForDeletion(m, REGION, 0, 1000, token));
    expect(marked.map((b) => b.hash.toString('hex'))).toContain(hashOf(7001).toString('hex'));
    expect(await tx((m) => unmarkBlocks(m, REGION, [hashOf(7001)], 'd0000000-0000-4000-8000-000000000004'))).toBe(0);
    expect(await tx((m) => unmarkBlocks(m, REGION, [hashOf(7001)], token))).toBe(1);
    const [row] = await db.dataSource.query(`SELECT state, deleting_by FROM block WHERE hash = $1`, [hashOf(7001)]);
    expect(row).toEqual({ state: 'uploading', deleting_by: null });
  });
});
