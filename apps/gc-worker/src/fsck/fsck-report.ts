export type FsckProblem =
  | { kind: 'manifest-missing'; snapshotId: string; object: string }
  | { kind: 'manifest-unreadable'; snapshotId: string; object: string; error: string }
  | { kind: 'manifest-mismatch'; snapshotId: string; object: string; differingBlocks: number }
  | { kind: 'block-not-in-catalog'; hash: string; expectedRefcount: number }
  | { kind: 'referenced-block-not-present'; hash: string; state: string }
  | { kind: 'wrong-counts'; hash: string; refcount: number; expectedRefcount: number; pending: number; expectedPending: number }
  | { kind: 'block-missing'; hash: string; damaged?: string }
  | { kind: 'block-size'; hash: string; catalogBytes: number; swiftBytes: number }
  | { kind: 'block-corrupt'; hash: string; error: string; damaged?: string }
  | { kind: 'block-damaged'; hash: string; reason: string }
  | { kind: 'block-repaired'; hash: string; problem: 'missing' | 'corrupt'; from: string }
  | { kind: 'damage-cleared'; hash: string }
  | { kind: 'orphan-block'; hash: string; bytes: number }
  | { kind: 'orphan-manifest'; object: string }
  | { kind: 'project-key-unopenable'; projectId: string; error: string };

/** Problems repair fixes; every other kind is lost or damaged data that only a human can judge. */
const REPAIRABLE = new Set<FsckProblem['kind']>(['wrong-counts', 'orphan-block', 'orphan-manifest', 'block-repaired', 'damage-cleared']);

/** What `island fsck --json` prints: ok when nothing is wrong (after repair, when repairing). */
export class FsckReport {
  readonly problems: FsckProblem[] = [];
  readonly problemCounts: Partial<Record<FsckProblem['kind'], number>> = {};
  /** Deep: bytes read, the rate they were held to (bytes/s, 0: unlimited) and how long the reading took. */
  readonly checked = { manifests: 0, blocks: 0, bytes: 0, bytesPerSecondLimit: 0, readSeconds: 0 };
  readonly repaired = { counts: 0, orphanBlocks: 0, orphanManifests: 0, blocks: 0 };
  /** With repair: the region's blocks marked damaged and the live snapshots that need them, after this check. */
  damage: { damagedBlocks: number; damagedSnapshots: number; cleared: number } | undefined;
  /** Projects whose key was shredded on purpose: their sealed objects are unreadable by design, not checked. */
  readonly shreddedProjects = new Set<string>();
  /** Projects whose key no KEK the manager holds opens (reported once each; their objects are not checked). */
  readonly unopenableProjects = new Set<string>();

  constructor(
    readonly region: string,
    readonly options: { deep: boolean; repair: boolean },
    private readonly listed: number,
  ) {}

  add(problem: FsckProblem): void {
    this.problemCounts[problem.kind] = (this.problemCounts[problem.kind] ?? 0) + 1;
    if (this.problems.length < this.listed) this.problems.push(problem);
  }

  finish(): Record<string, unknown> {
    const kinds = Object.keys(this.problemCounts) as FsckProblem['kind'][];
    return {
      ok: kinds.every((kind) => this.options.repair && REPAIRABLE.has(kind)),
      region: this.region,
      deep: this.options.deep,
      repair: this.options.repair,
      problems: this.problems,
      problemCounts: this.problemCounts,
      checked: this.checked,
      ...(this.shreddedProjects.size > 0 && { shreddedProjects: [...this.shreddedProjects].sort() }),
      ...(this.options.repair && { repaired: this.repaired }),
      ...(this.damage && { damage: this.damage }),
    };
  }
}
