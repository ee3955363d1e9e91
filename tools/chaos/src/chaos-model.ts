/** What the guest wrote, as the chaos suite knows it: the truth every restore is compared with. */
export interface VolumeModel {
  id: string;
  /** The image path while attached on the first host. */
  path: string;
  content: Buffer;
}

export type SnapshotOutcome = 'available' | 'failed' | 'deleted';

export interface SnapshotModel {
  id: string;
  volumeId: string;
  region: string;
  /** For a copy in another region: the snapshot it copies. */
  copyOf?: string;
  /** The guest's bytes when the snapshot was asked for (no write was in flight then). */
  content: Buffer;
  outcome: SnapshotOutcome;
  reason?: string;
}

export class ChaosModel {
  readonly volumes = new Map<string, VolumeModel>();
  readonly snapshots = new Map<string, SnapshotModel>();

  addSnapshot(snapshot: SnapshotModel): void {
    this.snapshots.set(snapshot.id, snapshot);
  }

  available(filter: (s: SnapshotModel) => boolean = () => true): SnapshotModel[] {
    return [...this.snapshots.values()].filter((s) => s.outcome === 'available' && filter(s));
  }
}
