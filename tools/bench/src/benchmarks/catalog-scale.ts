import { AUDIT_WORK_MEM } from '@island/catalog';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { AuditResult, timedCountAudit } from '../catalog-scale/count-audit';
import { ledgerRound, noSamples, Operation, Samples } from '../catalog-scale/ledger-operations';
import { gib, RelationSize, relationSizes } from '../catalog-scale/relation-sizes';
import { dropPageCache, loadBlockTable, RelationLoad } from '../catalog-scale/page-cache';
import { dropScaleDatabase, markFilled, openScaleDatabase, ScaleDatabase } from '../catalog-scale/scale-database';
import { serverSettings } from '../catalog-scale/server-settings';
import { CatalogShape, configuredScales, scaleLabel, snapshotCount } from '../catalog-scale/shape';
import { fillSyntheticCatalog } from '../catalog-scale/synthetic-fill';
import { WalMeter } from '../catalog-scale/wal-meter';
import { median } from '../stack-timing';

/** Blocks each measured operation changes (2 GiB of 1 MiB blocks). */
const CHANGED_BLOCKS = 2000;
const GOAL = 1.5;
const LEDGER_TABLES = ['block', 'block_version', 'block_claim', 'snapshot', 'volume'];

interface Scale {
  shape: CatalogShape;
  db: ScaleDatabase;
  /** Seconds the fill took in this run; null when a filled database was reused. */
  fillSeconds: number | null;
  wal: WalMeter;
  samples: Samples;
  /** The same rounds again once the block table and its key were read into memory. */
  residentSamples: Samples;
  loads: RelationLoad[];
  audit: AuditResult;
  sizes: RelationSize[];
}

const OPERATIONS: { key: Operation; metric: string }[] = [
  { key: 'claim', metric: `upload claims + mark present (LedgerRepository.claim, markPresent), ${CHANGED_BLOCKS} new blocks` },
  { key: 'commit', metric: `commit of a snapshot rewriting ${CHANGED_BLOCKS} blocks of a volume with 100 snapshots (LedgerRepository.commit)` },
  { key: 'delete', metric: `delete of a snapshot holding ${CHANGED_BLOCKS} versions of its own (LedgerRepository.removeSnapshot)` },
  { key: 'gc', metric: `GC pass over ${CHANGED_BLOCKS} unreferenced blocks (markBlocksForDeletion + forgetDeletedBlocks, batches of 1000)` },
  {
    key: 'rebuild',
    metric: `rebuild of a volume's snapshot of ${CHANGED_BLOCKS} blocks (Swift's listing and the manifest's map into RebuildScratch, CatalogRebuildRepository, commitSnapshotVersions)`,
  },
];

/** The operations whose cold figures read the block table's pages from disk at 100 M: measured again with it in memory. */
const RESIDENT_OPERATIONS: Operation[] = ['claim', 'gc', 'rebuild'];

/**
 * The catalog's per-block costs at the issue's scale (100 M block versions, 1 M snapshots; ISLAND_BENCH_CATALOG_ROWS)
 * against 1 M block versions (ISLAND_BENCH_CATALOG_BASE_ROWS), in one run, through the catalog's own code.
 */
export const catalogScale: Benchmark = {
  name: 'catalog-scale',
  title: 'Catalog at cloud scale: per-block ledger costs at 100 M vs 1 M block rows, and the indexes’ size',
  async run(ctx) {
    const env = process.env;
    const { base, large } = configuredScales(env);
    const rounds = Number(env.ISLAND_BENCH_CATALOG_ROUNDS ?? 5);
    const auditLimitMinutes = Number(env.ISLAND_BENCH_CATALOG_AUDIT_MINUTES ?? 45);
    const refill = env.ISLAND_BENCH_CATALOG_REFILL === '1';
    const scales: Scale[] = [];
    try {
      for (const shape of [base, large]) scales.push(await prepare(shape, refill, ctx.log));
      const cacheDropped = dropPageCache();
      ctx.log(cacheDropped ? 'page cache dropped' : 'the page cache could not be dropped (not root): the rounds read what is cached');
      // a first round on each touches what a fresh connection and plan cache touch once, and reads the small catalog
      // back into memory; not counted
      for (const s of scales) await ledgerRound(s.db.dataSource, s.wal, s.shape, CHANGED_BLOCKS);
      const measureRounds = async (into: (s: Scale) => Samples, label: string) => {
        for (let round = 0; round < rounds; round++) {
          for (const s of scales) {
            const samples = await ledgerRound(s.db.dataSource, s.wal, s.shape, CHANGED_BLOCKS);
            for (const { key } of OPERATIONS) {
              into(s)[key].ms.push(...samples[key].ms);
              into(s)[key].walBytes.push(...samples[key].walBytes);
            }
            ctx.log(
              `${scaleLabel(s.shape.versionRows)} ${label}round ${round + 1}: ${OPERATIONS.map(({ key }) => `${key} ${formatMs(median(samples[key].ms))}`).join(', ')}`,
            );
          }
        }
      };
      await measureRounds((s) => s.samples, '');
      for (const s of scales) {
        s.loads = await loadBlockTable(s.db.dataSource);
        ctx.log(`${scaleLabel(s.shape.versionRows)}: ${s.loads.map((l) => `${l.relation} ${gib(l.bytes)} read in ${l.seconds.toFixed(1)} s`).join(', ')}`);
      }
      await measureRounds((s) => s.residentSamples, 'block table in memory, ');
      for (const s of scales) await audit(s, auditLimitMinutes, ctx.log);
      for (const s of scales) s.sizes = await relationSizes(s.db.dataSource, LEDGER_TABLES);
      const [small, big] = scales;
      return { rows: resultRows(small, big), notes: notes(small, big, rounds, cacheDropped, await serverSettings(big.db.dataSource)) };
    } finally {
      for (const s of scales) {
        if (env.ISLAND_BENCH_CATALOG_DROP === '1') await dropScaleDatabase(s.db);
        else await s.db.dataSource.destroy();
      }
    }
  },
};

async function prepare(shape: CatalogShape, refill: boolean, log: (m: string) => void): Promise<Scale> {
  const label = scaleLabel(shape.versionRows);
  const db = await openScaleDatabase(shape, refill);
  let fillSeconds: number | null = null;
  if (!db.reused) {
    const started = performance.now();
    await fillSyntheticCatalog(db.dataSource, shape, (m) => log(`${label} fill: ${m}`));
    await markFilled(db, shape);
    fillSeconds = (performance.now() - started) / 1000;
  }
  log(`${label}: database ${db.name} ${db.reused ? 'reused' : `filled in ${fillSeconds?.toFixed(0)} s`}`);
  return {
    shape,
    db,
    fillSeconds,
    wal: await WalMeter.open(db.dataSource),
    samples: noSamples(),
    residentSamples: noSamples(),
    loads: [],
    audit: { seconds: 0, discrepancies: 0 },
    sizes: [],
  };
}

async function audit(s: Scale, limitMinutes: number, log: (m: string) => void): Promise<void> {
  s.audit = await timedCountAudit(s.db.dataSource, limitMinutes);
  const outcome = s.audit.discrepancies === null ? `stopped at the ${limitMinutes} min limit` : `${s.audit.discrepancies} discrepancies`;
  log(`${scaleLabel(s.shape.versionRows)} fsck count audit: ${s.audit.seconds.toFixed(1)} s, ${outcome}`);
}

function formatMs(ms: number): string {
  return ms >= 0.1 ? `${ms.toFixed(3)} ms` : `${(ms * 1000).toFixed(1)} µs`;
}

function perBlockRow(metric: string, big: number, small: number, bigLabel: string, smallLabel: string, unit: string): BenchmarkRow {
  const ratio = big / small;
  return {
    metric,
    island: `${bigLabel}: ${formatMs(big)}/${unit}`,
    baseline: `${smallLabel}: ${formatMs(small)}/${unit}`,
    ratio,
    goal: `≤ ${GOAL}× per ${unit}`,
    pass: ratio <= GOAL,
  };
}

/** Per block version of the region; an audit stopped at its limit is a failure whose ratio is a lower bound. */
function auditRow(big: Scale, small: Scale): BenchmarkRow {
  const perVersion = (s: Scale) => (s.audit.seconds * 1000) / s.shape.versionRows;
  const label = (s: Scale) =>
    `${scaleLabel(s.shape.versionRows)}: ${s.audit.discrepancies === null ? '> ' : ''}${formatMs(perVersion(s))}/version (${(s.audit.seconds / 60).toFixed(1)} min${s.audit.discrepancies === null ? ', stopped' : ''})`;
  const ratio = perVersion(big) / perVersion(small);
  return {
    metric: "fsck's count audit of the whole region (referenceDiscrepancies: a full scan)",
    island: label(big),
    baseline: label(small),
    ratio,
    goal: `≤ ${GOAL}× per version`,
    pass: ratio <= GOAL && big.audit.discrepancies !== null && small.audit.discrepancies !== null,
  };
}

function ledgerBytesPerVersion(s: Scale, part: 'all' | 'indexes'): number {
  const ledger = s.sizes.filter((r) => r.table === 'block' || r.table === 'block_version');
  const bytes = ledger.reduce((sum, r) => sum + r.indexBytes + (part === 'all' ? r.heapBytes : 0), 0);
  return bytes / s.shape.versionRows;
}

function resultRows(small: Scale, big: Scale): BenchmarkRow[] {
  const smallLabel = scaleLabel(small.shape.versionRows);
  const bigLabel = scaleLabel(big.shape.versionRows);
  const rows = OPERATIONS.map(({ key, metric }) =>
    perBlockRow(metric, median(big.samples[key].ms), median(small.samples[key].ms), bigLabel, smallLabel, 'block'),
  );
  for (const { key, metric } of OPERATIONS.filter((o) => RESIDENT_OPERATIONS.includes(o.key))) {
    const row = perBlockRow(metric, median(big.residentSamples[key].ms), median(small.residentSamples[key].ms), bigLabel, smallLabel, 'block');
    rows.push({ ...row, metric: `${metric}, the block table and its key read into memory first (pg_prewarm)`, goal: 'reported', pass: true });
  }
  rows.push(auditRow(big, small));
  for (const part of ['indexes', 'all'] as const) {
    const b = ledgerBytesPerVersion(big, part);
    const s = ledgerBytesPerVersion(small, part);
    rows.push({
      metric: `on-disk bytes per block version, block + block_version ${part === 'all' ? 'tables and indexes' : 'indexes only'}`,
      island: `${bigLabel}: ${b.toFixed(0)} B (${gib(b * big.shape.versionRows)})`,
      baseline: `${smallLabel}: ${s.toFixed(0)} B (${gib(s * small.shape.versionRows)})`,
      ratio: b / s,
      goal: `≤ ${GOAL}× per version`,
      pass: b / s <= GOAL,
    });
  }
  return rows;
}

function sizeNote(s: Scale): string {
  const label = scaleLabel(s.shape.versionRows);
  const tables = s.sizes.map(
    (r) =>
      `${r.table} ${Math.max(0, r.rows).toLocaleString('en')} rows: heap ${gib(r.heapBytes)}, indexes ${gib(r.indexBytes)} (${r.indexes.map((i) => `${i.name} ${gib(i.bytes)}`).join(', ')})`,
  );
  return `Sizes at ${label} (rows as ANALYZE estimates them): ${tables.join('; ')}.`;
}

function walNote(small: Scale, big: Scale): string {
  const perBlock = (s: Scale, key: Operation) => `${median(s.samples[key].walBytes).toFixed(0)} B`;
  const figures = OPERATIONS.map(({ key }) => `${key} ${perBlock(big, key)} (${perBlock(small, key)})`);
  return `WAL per block at ${scaleLabel(big.shape.versionRows)} (at ${scaleLabel(small.shape.versionRows)}), medians, records naming the bench's database (pg_walinspect; full-page images included, commit records not): ${figures.join(', ')}.`;
}

function residentNote(small: Scale, big: Scale): string {
  const loaded = (s: Scale) =>
    `${scaleLabel(s.shape.versionRows)} ${s.loads.map((l) => `${l.relation} ${gib(l.bytes)} in ${l.seconds.toFixed(1)} s`).join(', ')}`;
  return `"Read into memory first" rows: after the rounds above, the block table and its primary key were read into the operating system's page cache (pg_prewarm, mode 'read': ${loaded(small)}; ${loaded(big)}) and the same rounds ran again, ${RESIDENT_OPERATIONS.join(', ')} reported. They show what a catalog server with memory for its block table pays per block (at 100 M its heap and key fit this machine's page cache; the block_version tables and indexes do not): reported beside the goal rows, which stay measured as the catalog lies on this machine.`;
}

function found(s: Scale): string {
  return s.audit.discrepancies === null ? 'nothing (stopped at its time limit, ISLAND_BENCH_CATALOG_AUDIT_MINUTES)' : `${s.audit.discrepancies} discrepancies`;
}

function notes(small: Scale, big: Scale, rounds: number, cacheDropped: boolean, settings: string): string[] {
  const shapeOf = (s: Scale) =>
    `${scaleLabel(s.shape.versionRows)}: ${s.shape.volumes.toLocaleString('en')} volumes, ${snapshotCount(s.shape).toLocaleString('en')} snapshots, ${s.shape.versionRows.toLocaleString('en')} block versions, ${(s.shape.versionRows + s.shape.unreferencedBlocks).toLocaleString('en')} block rows`;
  const fill = (s: Scale) =>
    `${scaleLabel(s.shape.versionRows)} ${s.fillSeconds === null ? `reused (database ${s.db.name}, filled by an earlier run)` : `filled in ${s.fillSeconds.toFixed(0)} s`}`;
  return [
    `Synthetic catalogs generated in SQL (tools/bench/src/catalog-scale/synthetic-fill.ts), one region, each volume alike — 10 000 block versions over 100 available snapshots (the first writes 5 050 blocks, each later one rewrites 50); only the number of volumes differs. ${shapeOf(small)}; ${shapeOf(big)}. 1% more block rows have no reference and are inside GC's grace window.`,
    `The bulk load drops the block and block_version indexes and builds them again from the migrations' own definitions (read from the schema), without foreign-key triggers, then VACUUM ANALYZE; every figure is measured with exactly the migrations' indexes. ${fill(small)}; ${fill(big)}. A database is kept afterwards and reused by the next run when its recorded shape matches (ISLAND_BENCH_CATALOG_REFILL=1 fills it again, ISLAND_BENCH_CATALOG_DROP=1 drops it after the run); each run adds a few thousand rows to it.`,
    `Per-block figures: medians of ${rounds} rounds (after one uncounted round) at each scale, the two scales alternating; each round works on a random volume and times only calls into libs/catalog (LedgerRepository, markBlocksForDeletion/forgetDeletedBlocks under a real GcLease, RebuildScratch + CatalogRebuildRepository + commitSnapshotVersions); snapshot rows and statuses around them are set by plain SQL, untimed. Claims and commits have two samples per round (snapshots A and B). GC leaves out the Swift deletes between mark and forget. ${cacheDropped ? "The operating system's page cache was dropped before the uncounted round: the rounds read from disk what a catalog larger than memory keeps there (at 100 M, 48 GiB against 24 GiB of RAM), whatever earlier runs left cached." : 'The page cache could NOT be dropped (the bench ran without root): the rounds read whatever earlier work left cached, so the 100 M figures may be lower than a catalog larger than memory pays.'}`,
    `fsck: referenceDiscrepancies recomputes every block's counts from all versions and claims of the region in one statement — a full scan whose time grows with the catalog, so it is reported per block version; its transaction sets work_mem to ${AUDIT_WORK_MEM} for it (hash nodes get twice that); it found ${found(small)} at ${scaleLabel(small.shape.versionRows)} and ${found(big)} at ${scaleLabel(big.shape.versionRows)}. fsck's walk of the region's blocks against Swift's listing (regionBlocksBetween, a range of 1,000 hashes at a time) is not timed here (docs/scaling.md).`,
    `PostgreSQL as the machine has it, untuned (docs/scaling.md discusses a production server's): ${settings}.`,
    residentNote(small, big),
    walNote(small, big),
    sizeNote(small),
    sizeNote(big),
  ];
}
