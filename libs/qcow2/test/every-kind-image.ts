import { qemuImg, qemuIo } from './qemu-tools';

/** The smallest clusters: many L2 tables in a small image. */
export const CLUSTER = 512;
/** A 512-byte cluster's L2 table maps 64 clusters: 32 KiB of the guest. */
export const L2_SPAN = 64 * CLUSTER;
/** More L2 tables than an image's cache holds (128), so a pass over them pushes some out mid-change. */
export const TABLES = 144;

/**
 * An image of TABLES L2 tables of 512-byte clusters, each with its first two clusters written, and among them two
 * compressed clusters and a preallocated zero one (zeroed without unmapping: the zero flag with its offset kept); checks
 * that qemu made them so.
 */
export function imageOfEveryKind(path: string): void {
  qemuImg('create', '-q', '-f', 'qcow2', '-o', `cluster_size=${CLUSTER}`, path, String(TABLES * L2_SPAN));
  const writes = Array.from({ length: TABLES }, (_, t) => `write -P ${1 + (t % 250)} ${t * L2_SPAN} ${2 * CLUSTER}`);
  const kinds = [`write -c -P 0x77 ${3 * L2_SPAN + 8 * CLUSTER} ${CLUSTER}`, `write -c -P 0x78 ${140 * L2_SPAN + 8 * CLUSTER} ${CLUSTER}`];
  const zeroed = [`write -P 0x55 ${5 * L2_SPAN + 16 * CLUSTER} ${CLUSTER}`, `write -z ${5 * L2_SPAN + 16 * CLUSTER} ${CLUSTER}`];
  qemuIo(path, ...writes, ...kinds, ...zeroed);
  expect(qemuImg('map', '--output=json', path)).toContain('"present": true, "zero": true, "data": false, "offset"');
  expect(JSON.parse(qemuImg('check', '--output=json', path))).toMatchObject({ 'compressed-clusters': 2 });
}
