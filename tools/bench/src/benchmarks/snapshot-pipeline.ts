import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openForWriting, Qcow2Image } from '@island/qcow2';
import { IslandStack, pollUntil, regionOneSwift, startIsland, testerSwift } from '@island/stack';
import { SwiftClient } from '@island/swift';
import { Benchmark, BenchContext, BenchmarkRow, mibPerSecond } from '../benchmark';
import { curlTransfers } from '../raw-curl';
import { median, timedSnapshot } from '../stack-timing';
import { HandlerSpent, handlerSeconds, handlerSpentBetween } from '../handler-time';
import { withIslandOverSink } from '../sink/sink-process';

const MIB = 1 << 20;
const GIB = 1 << 30;
const ROUNDS = 3;
type Json = Record<string, unknown>;

/**
 * The core pipeline on a real stack (API, agent, two workers; PostgreSQL, RabbitMQ, Swift on this machine):
 * full and incremental snapshots, restores, two workers against one, and restic backing up the same
 * image to the same Swift; then the incremental rounds again on a stack whose object store is the bench's sink.
 */
export const snapshotPipeline: Benchmark = {
  name: 'snapshot-pipeline',
  title: 'Snapshots and restores end to end vs raw Swift transfers and restic',
  async run(ctx) {
    const island = await startIsland({ workers: 2 });
    const rows: BenchmarkRow[] = [];
    let swiftWireMs = NaN; // the raw PUTs of the incremental rounds to Swift, for the sink rounds' note
    const notes: string[] = [];
    try {
      const driver = new Driver(island, ctx);

      // a full snapshot of 1 GiB of incompressible data vs raw keep-alive PUTs of the same bytes, and its
      // restore into a new volume vs raw keep-alive GETs of the same objects: three rounds, island and the
      // baseline alternating, each timed step after `sync`; the medians are compared
      const firsts: number[] = [];
      const puts: number[] = [];
      const restores: number[] = [];
      const gets: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const full = await driver.volume(GIB);
        const data = await driver.fillRandom(full.path, GIB);
        const first = await synced(() => driver.snapshot(full.id));
        firsts.push(first.ms);
        puts.push(await synced(() => driver.rawTransfers(data, 'put', `r${round}-`)));
        restores.push(await synced(() => driver.restore(String(first.snap.id), GIB)));
        gets.push(await synced(() => driver.rawTransfers(data, 'get', `r${round}-`)));
      }
      rows.push(ratioRow('first snapshot, 1 GiB incompressible', GIB, median(firsts), median(puts), 'raw keep-alive PUTs (curl ×8)', 0.8));
      rows.push(ratioRow('restore, 1 GiB', GIB, median(restores), median(gets), 'raw keep-alive GETs (curl ×8)', 0.8));
      notes.push(
        `Throughput rounds (island / raw, ms): snapshot ${firsts.map((v, i) => `${v.toFixed(0)} / ${puts[i].toFixed(0)}`).join(', ')}; restore ${restores.map((v, i) => `${v.toFixed(0)} / ${gets[i].toFixed(0)}`).join(', ')}.`,
      );

      // two workers vs one on one large snapshot (a fresh 1 GiB volume each)
      const two = await driver.volume(GIB);
      await driver.fillRandom(two.path, GIB);
      const withTwo = (await synced(() => driver.snapshot(two.id))).ms;
      island.kill('worker-2');
      await new Promise((r) => setTimeout(r, 500));
      const one = await driver.volume(GIB);
      await driver.fillRandom(one.path, GIB);
      const withOne = (await synced(() => driver.snapshot(one.id))).ms;
      await island.revive('worker-2'); // the rest runs as deployed, with both workers
      rows.push({
        metric: 'two snapshot workers vs one, 1 GiB snapshot',
        island: `two: ${(withTwo / 1000).toFixed(1)} s`,
        baseline: `one: ${(withOne / 1000).toFixed(1)} s`,
        ratio: withOne / withTwo,
        goal: '≥ 1.6×',
        pass: withOne / withTwo >= 1.6,
      });
      notes.push(
        'Two workers share this machine’s 2 cores with Swift, PostgreSQL and RabbitMQ; the speed-up measures what a second worker adds here, not on a host with spare cores.',
      );

      // incremental: 1% of a fully written 8 GiB volume changed vs restic, and vs reading + hashing the image
      const big = await driver.volume(8 * GIB);
      await driver.fillPattern(big.path, 8 * GIB);
      await driver.snapshot(big.id);
      const restic = new Restic(ctx, island);
      await restic.backup(big.path); // restic's first backup (not measured)
      // three rounds, each changing another 1% of the blocks; island then restic, medians of each
      const {
        islandRounds,
        besideRounds: resticRounds,
        wireRounds,
        changedBlocks,
        handlerRounds,
      } = await incrementalRounds(driver, big, 'inc', () => restic.backup(big.path));
      const incrementalMs = median(islandRounds);
      const resticMs = median(resticRounds);
      const wireMs = median(wireRounds);
      swiftWireMs = wireMs;
      const hashMs = readAndHash(big.path);
      rows.push({
        metric: 'incremental snapshot, 1% of a fully written 8 GiB volume changed',
        island: `${(incrementalMs / 1000).toFixed(2)} s`,
        baseline: `restic backup ${(resticMs / 1000).toFixed(1)} s`,
        ratio: resticMs / incrementalMs,
        goal: '≥ 20×',
        pass: resticMs / incrementalMs >= 20,
      });
      rows.push({
        metric: 'the same incremental snapshot vs raw keep-alive PUTs of its changed blocks',
        island: `${(incrementalMs / 1000).toFixed(2)} s`,
        baseline: `curl ×8, ${changedBlocks} × 1 MiB: ${(wireMs / 1000).toFixed(2)} s`,
        ratio: incrementalMs / wireMs,
        goal: '≤ 1.25×',
        pass: incrementalMs <= 1.25 * wireMs,
      });
      rows.push({
        metric: 'the same incremental snapshot vs reading and SHA-256-hashing the whole image',
        island: `${(incrementalMs / 1000).toFixed(2)} s`,
        baseline: `read + sha256 ${(hashMs / 1000).toFixed(1)} s`,
        ratio: hashMs / incrementalMs,
        goal: '> 1×',
        pass: hashMs > incrementalMs,
      });
      notes.push(
        'The 8 GiB volume is filled with a 64 MiB random pattern repeated (both island and restic deduplicate it, so the first backups are cheap). Then three rounds: 1% of its 1 MiB blocks (another 1% each round) get new random bytes, island snapshots the volume and restic backs up the image file (restic 0.14 from Debian, to a container of the same Swift, its own first backup done beforehand); the medians of the rounds are compared. After each round the same changed blocks (as plain 1 MiB objects; island’s sealed ones are 40 bytes longer) are PUT by 8 keep-alive curl processes to a container of the same Swift: the wire’s time for what the snapshot must send.',
        `Against Swift, ${incrementalSteps(islandRounds, handlerRounds)}`,
      );
    } finally {
      await island.stop(); // removes its containers, restic's and the raw baseline's too
    }
    const overSink = await incrementalOverSink(ctx);
    rows.push({
      metric: 'the same incremental snapshot, the object store a local sink (Swift off the cores), vs raw keep-alive PUTs of its changed blocks to that sink',
      island: `${(overSink.islandMs / 1000).toFixed(2)} s`,
      baseline: `curl ×8, ${overSink.changedBlocks} × 1 MiB: ${(overSink.wireMs / 1000).toFixed(2)} s`,
      ratio: overSink.islandMs / overSink.wireMs,
      goal: 'reported',
      pass: true,
    });
    notes.push(
      `What a host whose Swift runs elsewhere would see (the "local sink" row): the same three incremental rounds on a second stack (two workers) whose object store is the bench's Swift sink (tools/bench/src/sink, a process of its own that checks each PUT's MD5 and keeps the objects in memory), the raw PUTs going to the same sink. Rounds (island / raw, ms): ${overSink.rounds}. The sink took curl's PUTs of the same blocks in ${overSink.wireMs.toFixed(0)} ms against Swift's ${swiftWireMs.toFixed(0)} ms (medians); with Swift's servers off the cores, island's own work is what takes them: its two workers name, seal and MD5 each changed block (0.2 CPU-s for 82 MiB at the floors of \`npm run bench -- cpu-per-gib\`, about twice that in all) beside the sink's own MD5 of every PUT, on the same 2 cores, then the fixed costs of a snapshot follow (docs/performance.md). Reported beside the goal row, which stays judged against the real Swift.`,
      `Over the sink, ${overSink.steps}`,
    );
    return { rows, notes };
  },
};

/** What the sink may hold: the volume's 64 distinct blocks, three rounds of changes twice (island's, curl's) and manifests. */
const SINK_MAX_BYTES = GIB;

/** The incremental rounds again on a stack whose object store is the bench's sink, against curl PUTting the same blocks to it. */
async function incrementalOverSink(ctx: BenchContext): Promise<{ islandMs: number; wireMs: number; changedBlocks: number; rounds: string; steps: string }> {
  return withIslandOverSink(SINK_MAX_BYTES, { workers: 2 }, async (island, sink) => {
    const driver = new Driver(island, ctx, () => testerSwift('sink', sink.authUrl));
    const big = await driver.volume(8 * GIB);
    await driver.fillPattern(big.path, 8 * GIB);
    await driver.snapshot(big.id);
    const { islandRounds, wireRounds, changedBlocks, handlerRounds } = await incrementalRounds(driver, big, 'sink');
    const rounds = islandRounds.map((v, i) => `${v.toFixed(0)} / ${wireRounds[i].toFixed(0)}`).join(', ');
    return { islandMs: median(islandRounds), wireMs: median(wireRounds), changedBlocks, rounds, steps: incrementalSteps(islandRounds, handlerRounds) };
  });
}

/**
 * ROUNDS rounds on a fully written 8 GiB volume, each giving another 1% of its blocks new bytes: island's snapshot of it,
 * then `beside` (e.g. restic's backup of the same image), then raw PUTs of the changed blocks; the times of each, in ms.
 */
async function incrementalRounds(
  driver: Driver,
  volume: { id: string; path: string },
  prefix: string,
  beside?: () => Promise<number>,
): Promise<{ islandRounds: number[]; besideRounds: number[]; wireRounds: number[]; changedBlocks: number; handlerRounds: Map<string, HandlerSpent>[] }> {
  const islandRounds: number[] = [];
  const handlerRounds: Map<string, HandlerSpent>[] = [];
  const besideRounds: number[] = [];
  const wireRounds: number[] = [];
  let changedBlocks = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const changed = await driver.changeOnePercent(volume.path, 8 * GIB, round);
    changedBlocks = changed.length;
    const before = await handlerSeconds(driver.island);
    islandRounds.push((await synced(() => driver.snapshot(volume.id))).ms);
    await new Promise((r) => setTimeout(r, 500)); // the release of the replaced point in time ends after `available`
    handlerRounds.push(handlerSpentBetween(before, await handlerSeconds(driver.island)));
    if (beside) besideRounds.push(await synced(beside));
    wireRounds.push(await synced(() => driver.rawTransfers(changed, 'put', `${prefix}${round}-`)));
  }
  return { islandRounds, besideRounds, wireRounds, changedBlocks, handlerRounds };
}

/**
 * Where each incremental round's time went, from the time the processes spent in their message handlers (their
 * /metrics), step after step. Two steps are bounds, not exact: the parts run side by side, so the busiest worker's part time
 * stands for them (its parts named); and every part's report is counted, though only the last one (which commits) follows
 * the parts — the one before it runs while a part still uploads. "The rest" (time in no handler: the POST, outbox relays,
 * broker hops, the bench's status polling) is thus a lower bound.
 */
function incrementalSteps(islandRounds: number[], handlerRounds: Map<string, HandlerSpent>[]): string {
  const rounds = handlerRounds.map((spent, i) => {
    const of = (who: RegExp, contracts: string[]) => [...spent].filter(([key]) => who.test(key) && contracts.some((c) => key.endsWith(` ${c}`)));
    const ms = (who: RegExp, contracts: string[]) => of(who, contracts).reduce((n, [, s]) => n + s.ms, 0);
    const parts = of(/^worker-/, ['snapshot.upload-part.v1']).sort(([, a], [, b]) => b.ms - a.ms);
    const busiest = parts[0];
    const reports = of(/^api /, ['snapshot.part-uploaded.v1']).reduce((n, [, s]) => n + s.handled, 0);
    const steps: [string, number][] = [
      ['agent take + diff', ms(/^agent /, ['snapshot.take.v1', 'snapshot.diff.v1'])],
      ['API on the diff', ms(/^api /, ['snapshot.taken.v1', 'snapshot.diffed.v1'])],
      [
        busiest
          ? `the busiest worker's parts (${busiest[0].split(' ')[0]}, ${busiest[1].handled} of ${parts.reduce((n, [, s]) => n + s.handled, 0)})`
          : 'parts (none)',
        busiest?.[1].ms ?? 0,
      ],
      [`API on the ${reports} part reports (the last commits)`, ms(/^api /, ['snapshot.part-uploaded.v1'])],
      ['manifest', ms(/^worker-/, ['snapshot.write-manifest.v1'])],
      ['API on it', ms(/^api /, ['snapshot.manifest-written.v1'])],
    ];
    const rest = islandRounds[i] - steps.reduce((n, [, step]) => n + step, 0);
    const release = ms(/^agent /, ['points-in-time.release.v1']);
    return `${islandRounds[i].toFixed(0)} ms = ${steps.map(([what, step]) => `${what} ${step.toFixed(0)}`).join(' + ')} + the rest ≥ ${rest.toFixed(0)} (beside them: the agent's drop of the replaced point in time, ${release.toFixed(0)})`;
  });
  return `where each incremental round's time went, from the time the stack's processes spent in their message handlers (island_message_handler_seconds in their /metrics; the parts run side by side and the first part report while a part still uploads, so "the rest", the time in no handler — the POST, outbox relays, broker hops, the bench's status polling — is a lower bound): ${rounds.join('; ')}.`;
}

/** Runs a timed step with no dirty pages left over from the step before it, whoever's step it is. */
function synced<T>(step: () => Promise<T>): Promise<T> {
  execFileSync('sync');
  return step();
}

function ratioRow(metric: string, bytes: number, islandMs: number, rawMs: number, what: string, goal: number): BenchmarkRow {
  const a = mibPerSecond(bytes, islandMs);
  const b = mibPerSecond(bytes, rawMs);
  return { metric, island: `${a.toFixed(0)} MiB/s`, baseline: `${what} ${b.toFixed(0)} MiB/s`, ratio: a / b, goal: `≥ ${goal}×`, pass: a / b >= goal };
}

class Driver {
  constructor(
    readonly island: IslandStack,
    private readonly ctx: BenchContext,
    /** Where the raw baseline's curls PUT and GET: the same Swift as the stack's by default. */
    private readonly rawSwift: () => SwiftClient = regionOneSwift,
  ) {}

  async volume(size: number): Promise<{ id: string; path: string }> {
    const created = await this.island.request('POST', '/v1/volumes', { sizeBytes: size });
    const id = String(created.body.id);
    await this.island.request('POST', `/v1/volumes/${id}/attach`, { host: this.island.host });
    const volume = await pollUntil(this.island, `/v1/volumes/${id}`, (v) => v.status === 'in-use');
    return { id, path: (volume.connection as { path: string }).path };
  }

  async fillRandom(path: string, size: number): Promise<Buffer[]> {
    const image = await Qcow2Image.open(path, { writable: true });
    const blocks: Buffer[] = [];
    for (let at = 0; at < size; at += 64 * MIB) {
      const chunk = randomBytes(64 * MIB);
      await image.write(at, chunk);
      for (let b = 0; b < 64; b++) blocks.push(chunk.subarray(b * MIB, (b + 1) * MIB));
    }
    await image.close();
    return blocks;
  }

  async fillPattern(path: string, size: number): Promise<void> {
    const pattern = randomBytes(64 * MIB);
    const image = await Qcow2Image.open(path, { writable: true });
    for (let at = 0; at < size; at += pattern.length) await image.write(at, pattern);
    await image.close();
  }

  /** New random bytes in every 100th block, starting at block `first` (another 1% each round); returns them. */
  async changeOnePercent(path: string, size: number, first: number): Promise<Buffer[]> {
    const image = await openForWriting(path); // the agent may still be dropping the previous point in time
    const blocks = size / MIB;
    const changed: Buffer[] = [];
    for (let b = first; b < blocks; b += 100) {
      const block = randomBytes(MIB);
      await image.write(b * MIB, block);
      changed.push(block);
    }
    await image.close();
    return changed;
  }

  snapshot(volumeId: string): Promise<{ ms: number; snap: Json }> {
    return timedSnapshot(this.island, volumeId);
  }

  async restore(snapshotId: string, size: number): Promise<number> {
    const created = await this.island.request('POST', '/v1/volumes', { sizeBytes: size, snapshotId });
    const started = performance.now();
    await this.island.request('POST', `/v1/volumes/${created.body.id}/attach`, { host: this.island.host });
    await pollUntil(this.island, `/v1/volumes/${created.body.id}`, (v) => v.status === 'in-use');
    return performance.now() - started;
  }

  /** 8 keep-alive curl processes moving the same 1 MiB objects to/from a container of the same Swift (or sink). */
  async rawTransfers(blocks: Buffer[], direction: 'put' | 'get', prefix: string): Promise<number> {
    const swift = this.rawSwift();
    const container = `${this.island.container}-raw`;
    await swift.createContainer(container);
    const { token, storageUrl } = await swift.session();
    await swift.close();
    const objects = blocks.map((block, i) => {
      const file = join('/dev/shm', `island-bench-raw-${i}`);
      if (direction === 'put') writeFileSync(file, block);
      return { name: `${prefix}b${i}`, file: direction === 'put' ? file : '/dev/null' };
    });
    const { ms } = await curlTransfers({ storageUrl, token, container, objects, direction, workDir: join(this.ctx.workDir, `raw-${direction}`) });
    execFileSync('sh', ['-c', 'rm -f /dev/shm/island-bench-raw-*']);
    return ms;
  }
}

/** restic (Debian's) with a repository in a container of the same Swift. */
class Restic {
  private readonly env: NodeJS.ProcessEnv;
  private initialised = false;

  constructor(ctx: BenchContext, island: IslandStack) {
    this.env = {
      ...process.env,
      ST_AUTH: 'http://127.0.0.1:8080/auth/v1.0',
      ST_USER: 'test:tester',
      ST_KEY: 'testing',
      RESTIC_REPOSITORY: `swift:${island.container}-restic:/`,
      RESTIC_PASSWORD: 'island-bench',
      RESTIC_CACHE_DIR: join(ctx.workDir, 'restic-cache'),
    };
  }

  async backup(path: string): Promise<number> {
    if (!this.initialised) {
      execFileSync('restic', ['init'], { env: this.env, stdio: 'ignore' });
      this.initialised = true;
    }
    const started = performance.now();
    execFileSync('restic', ['backup', '--quiet', path], { env: this.env, stdio: 'ignore' });
    return performance.now() - started;
  }
}

function readAndHash(path: string): number {
  const started = performance.now();
  const fd = openSync(path, 'r');
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 * MIB);
  for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hash.update(buf.subarray(0, n));
  closeSync(fd);
  hash.digest();
  return performance.now() - started;
}
