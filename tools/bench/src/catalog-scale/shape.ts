/**
 * The synthetic catalog's shape. Every volume is alike (10 000 block versions over 100 snapshots); only how many
 * volumes there are follows the scale, so a per-block cost measured on one volume compares across scales.
 */
export interface CatalogShape {
  /** Block version rows (references) of all volumes; one block row each, plus the unreferenced ones. */
  versionRows: number;
  volumes: number;
  snapshotsPerVolume: number;
  versionsPerVolume: number;
  /** Blocks each snapshot after the first rewrites. */
  changedPerSnapshot: number;
  /** Block indexes the first snapshot writes (every index a volume has). */
  baseBlocks: number;
  /** Block rows without references inside GC's grace window, beyond the referenced ones. */
  unreferencedBlocks: number;
  projects: number;
}

const VERSIONS_PER_VOLUME = 10_000;
const SNAPSHOTS_PER_VOLUME = 100;
const CHANGED_PER_SNAPSHOT = 50;
const UNREFERENCED_SHARE = 0.01;
const PROJECTS = 100;

export function catalogShape(versionRows: number): CatalogShape {
  if (!Number.isInteger(versionRows) || versionRows < VERSIONS_PER_VOLUME || versionRows % VERSIONS_PER_VOLUME !== 0) {
    throw new Error(`catalog rows must be a positive multiple of ${VERSIONS_PER_VOLUME}, not ${versionRows}`);
  }
  return {
    versionRows,
    volumes: versionRows / VERSIONS_PER_VOLUME,
    snapshotsPerVolume: SNAPSHOTS_PER_VOLUME,
    versionsPerVolume: VERSIONS_PER_VOLUME,
    changedPerSnapshot: CHANGED_PER_SNAPSHOT,
    baseBlocks: VERSIONS_PER_VOLUME - (SNAPSHOTS_PER_VOLUME - 1) * CHANGED_PER_SNAPSHOT,
    unreferencedBlocks: Math.round(versionRows * UNREFERENCED_SHARE),
    projects: PROJECTS,
  };
}

export function snapshotCount(shape: CatalogShape): number {
  return shape.volumes * shape.snapshotsPerVolume;
}

/** "100M", "1M", "250k": for names and reports. */
export function scaleLabel(rows: number): string {
  if (rows % 1_000_000 === 0) return `${rows / 1_000_000}M`;
  if (rows % 1_000 === 0) return `${rows / 1_000}k`;
  return String(rows);
}

/** The scales a run compares: the 100 M rows (ISLAND_BENCH_CATALOG_ROWS) against 1 M (ISLAND_BENCH_CATALOG_BASE_ROWS). */
export function configuredScales(env: NodeJS.ProcessEnv = process.env): { base: CatalogShape; large: CatalogShape } {
  const rows = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback);
  return {
    base: catalogShape(rows('ISLAND_BENCH_CATALOG_BASE_ROWS', 1_000_000)),
    large: catalogShape(rows('ISLAND_BENCH_CATALOG_ROWS', 100_000_000)),
  };
}
