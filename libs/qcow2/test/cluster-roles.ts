import { hex } from '../src/qcow2-errors';
import { Qcow2Image } from '../src/index';
import { Piece } from './crash-states';

/** What each host cluster of an image holds (header, tables, blocks, guest data), to name crash pieces in failures. */
export async function clusterRoles(path: string): Promise<Map<number, string>> {
  const roles = new Map<number, string>();
  const image = await Qcow2Image.open(path);
  try {
    const cs = image.clusterSize;
    const mark = (offset: number, bytes: number, role: string) => {
      for (let c = Math.floor(offset / cs); c < Math.ceil((offset + bytes) / cs); c++) roles.set(c, role);
    };
    const h = image.header;
    mark(0, cs, 'header');
    mark(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
    image.refcounts.blockOffsets.forEach((offset, i) => offset && mark(offset, cs, `refcount block ${i}`));
    mark(h.l1TableOffset, h.l1Size * 8, 'active L1 table');
    if (h.nbSnapshots) mark(h.snapshotsOffset, 1, 'snapshot table');
    const views = [{ name: 'active', view: image.activeView() }];
    for (const s of image.snapshotList) {
      mark(s.l1TableOffset, s.l1Size * 8, `L1 table of ${s.name}`);
      views.push({ name: s.name, view: await image.snapshotView(s.name) });
    }
    for (const { name, view } of views) {
      for (let i = 0; i < view.l1.length; i++) {
        const l2 = image.l2OffsetOf(view.l1[i], i);
        if (!l2) continue;
        if (!roles.has(l2 / cs)) mark(l2, cs, `L2 table ${i} of ${name}`);
        const table = await image.l2Table(l2, 'L2 table');
        for (let j = 0; j < image.l2Entries; j++) {
          const m = image.decode(table, j, i * image.l2Entries + j);
          if (m.kind === 'data' && !roles.has(m.offset / cs)) mark(m.offset, cs, 'guest data');
        }
      }
    }
  } finally {
    await image.close();
  }
  return roles;
}

/** "L2 table 1 of active @0x5200" — what a piece wrote, by the roles before and after the update. */
export function describePiece(piece: Piece, clusterSize: number, ...roleMaps: Map<number, string>[]): string {
  if (piece.kind === 'truncate') return `file size ${hex(piece.size)}`;
  const cluster = Math.floor(piece.offset / clusterSize);
  const role = roleMaps.map((r) => r.get(cluster)).find((r) => r !== undefined) ?? 'unused cluster';
  return `${role} @${hex(piece.offset)}+${piece.bytes.length}`;
}
