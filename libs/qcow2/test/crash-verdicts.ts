import { cpus } from 'node:os';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkImage, Qcow2Image } from '../src/index';
import { CrashState } from './crash-states';
import { pooled, qemuImgCheck, qemuIoVerify, qemuSnapshotBytes } from './qemu-verdicts';
import { seeded } from './qemu-tools';

const SECTOR = 512;
const QEMU_PARALLEL = Math.max(2, cpus().length);
/** Snapshots are also read with `qemu-img convert` in about this many crash states per update, and in the complete one. */
const QEMU_SNAPSHOT_READS = 4;

/** What the guest may read after a crash during an update. */
export interface CrashExpectation {
  /** The active image's contents during the update, from before it to after it. */
  versions: Buffer[];
  /** The active image changes as a whole (revert), not sector by sector. */
  atomicActive: boolean;
  snapshotsBefore: Map<string, Buffer>;
  snapshotsAfter: Map<string, Buffer>;
}

/**
 * Writes every crash state to `dir` and checks it: `qemu-img check` must find no corruption (exit 0, or 3 for
 * leaks only), island's check no errors, and island and qemu-io must read what the guest may read. Returns one
 * failure per state that breaks any of that, named by `label`.
 */
export async function verifyCrashStates(dir: string, states: CrashState[], expectation: CrashExpectation, label: (s: CrashState) => string): Promise<string[]> {
  const paths = states.map((_, i) => join(dir, `crash-${i}.qcow2`));
  await Promise.all(states.map((s, i) => writeFile(paths[i], s.image)));
  try {
    const qemuChecks = pooled(paths, QEMU_PARALLEL, qemuImgCheck);
    const island: IslandVerdict[] = [];
    for (let i = 0; i < states.length; i++) island.push(await islandVerdict(paths[i], states[i].complete, expectation));
    const readable = island.flatMap((v, i) => (v.active ? [{ i, path: paths[i], expected: v.active }] : []));
    const qemuReads = new Map((await qemuIoVerify(readable)).map((problems, k) => [readable[k].i, problems]));
    const qemuSnapshots = await qemuSnapshotVerdicts(dir, paths, states, island, expectation);
    const checks = await qemuChecks;
    return states.flatMap((state, i) => {
      const { status, output } = checks[i];
      const problems = [
        ...(status === 0 || status === 3 ? [] : [`qemu-img check exit ${status}: ${output.split('\n').slice(0, 4).join(' | ')}`]),
        ...island[i].problems,
        ...(qemuReads.get(i) ?? []),
        ...(qemuSnapshots.get(i) ?? []),
      ];
      return problems.length ? [`${label(state)}\n  ${problems.slice(0, 8).join('\n  ')}`] : [];
    });
  } finally {
    await Promise.all(paths.map((p) => rm(p, { force: true })));
  }
}

interface IslandVerdict {
  /** The active image's bytes as island reads them, once they are known to be allowed. */
  active?: Buffer;
  snapshots: string[];
  problems: string[];
}

async function islandVerdict(path: string, complete: boolean, expectation: CrashExpectation): Promise<IslandVerdict> {
  let image: Qcow2Image;
  try {
    image = await Qcow2Image.open(path);
  } catch (error) {
    return { snapshots: [], problems: [`island cannot open it: ${(error as Error).message}`] };
  }
  try {
    const check = await checkImage(image);
    const problems = check.errors ? [`island check: ${check.errors} errors: ${check.problems.slice(0, 4).join('; ')}`] : [];
    const active = await image.read(0, image.header.size);
    const activeWrong = activeProblems(active, complete, expectation);
    problems.push(...activeWrong, ...(await snapshotProblems(image, complete, expectation)));
    return { active: activeWrong.length ? undefined : active, snapshots: image.snapshots().map((s) => s.name), problems };
  } catch (error) {
    return { snapshots: [], problems: [`island cannot read it: ${(error as Error).message}`] };
  } finally {
    await image.close();
  }
}

/**
 * Once the update completed, the guest reads its final bytes. Before, each sector holds one of the contents it
 * had during the update: what was durable before the update began, or a write of the update not yet acknowledged.
 */
function activeProblems(active: Buffer, complete: boolean, { versions, atomicActive }: CrashExpectation): string[] {
  if (complete) return active.equals(versions[versions.length - 1]) ? [] : ['the active image does not read what the completed update wrote'];
  const sameSize = versions.filter((v) => v.length === active.length);
  if (sameSize.length === 0) return [`the active image has ${active.length} bytes, which no version of it had`];
  if (atomicActive) return sameSize.some((v) => v.equals(active)) ? [] : ['the active image is neither the one before the update nor the one after'];
  for (let at = 0; at < active.length; at += SECTOR) {
    const sector = active.subarray(at, at + SECTOR);
    if (!sameSize.some((v) => v.subarray(at, at + SECTOR).equals(sector))) return [`guest sector at ${at} holds bytes the guest never wrote there`];
  }
  return [];
}

/** The snapshots are those before the update or those after (those after once it completed), each with its bytes. */
async function snapshotProblems(image: Qcow2Image, complete: boolean, { snapshotsBefore, snapshotsAfter }: CrashExpectation): Promise<string[]> {
  const names = image.snapshots().map((s) => s.name);
  const are = (expected: Map<string, Buffer>) => names.length === expected.size && names.every((n) => expected.has(n));
  if (!are(snapshotsAfter) && (complete || !are(snapshotsBefore))) {
    return [`snapshots [${names.join(', ')}] are neither those before the update nor those after`];
  }
  const problems: string[] = [];
  for (const name of names) {
    const view = await image.snapshotView(name);
    const expected = snapshotsAfter.get(name) ?? snapshotsBefore.get(name);
    if (!expected || !(await image.readView(view, 0, view.size)).equals(expected)) problems.push(`snapshot ${name} does not read what it held`);
  }
  return problems;
}

/** The snapshots island found, read through `qemu-img convert`, in a sample of the states and in the complete one. */
async function qemuSnapshotVerdicts(
  dir: string,
  paths: string[],
  states: CrashState[],
  island: IslandVerdict[],
  expectation: CrashExpectation,
): Promise<Map<number, string[]>> {
  const random = seeded(11);
  const sample = states.flatMap((s, i) => (s.complete || random() < QEMU_SNAPSHOT_READS / states.length ? [i] : []));
  const expected = new Map([...expectation.snapshotsBefore, ...expectation.snapshotsAfter]);
  const problems = new Map<number, string[]>();
  const report = (i: number, problem: string) => problems.set(i, [...(problems.get(i) ?? []), problem]);
  await pooled(sample, QEMU_PARALLEL, async (i) => {
    for (const name of island[i].snapshots) {
      const out = join(dir, `crash-${i}-${name}.raw`);
      const converted = await qemuSnapshotBytes(paths[i], name, out);
      if (!converted.ok) {
        report(i, `qemu-img cannot read snapshot ${name}: ${converted.error}`);
        continue;
      }
      const bytes = await readFile(out);
      await rm(out);
      if (!bytes.equals(expected.get(name) ?? Buffer.alloc(0))) report(i, `qemu-img reads snapshot ${name} differently from what it held`);
    }
  });
  return problems;
}
