import { join } from 'node:path';
import { Client } from 'pg';
import { ADMIN_DATABASE_URL, guestIo, startIsland } from '@island/stack';
import { startChildServer } from '../child-servers/child-server';
import { MessageCounts } from '../catalog-counter/frontend-messages';
import { startSinkProcess } from '../sink/sink-process';
import { writeBlockMarkers } from './block-markers';
import { pollIdle, restoreAll, snapshotAll } from './island-phases';
import { PhaseUsage, StackProbe, usageBetween } from './stack-probe';

const IDLE_SECONDS = 20;

/** The shape of one run: how many volumes, of how many blocks, snapshot at once. */
export interface RunShape {
  workers: number;
  volumes: number;
  blocksPerVolume: number;
  blockSize: number;
  /** The sink refuses PUTs past this many bytes held. */
  sinkMaxBytes: number;
}

/** What each phase of a run cost; `blocks` is what each phase moved (every block of every volume). */
export interface RunResult {
  shape: RunShape;
  blocks: number;
  /** IDLE_SECONDS with nothing asked of the stack but the bench's polling: what its processes spend anyway (heartbeats, outbox polling, sweeps, the poll). */
  idle: PhaseUsage;
  firstSnapshots: PhaseUsage;
  nextSnapshots: PhaseUsage;
  restores: PhaseUsage;
}

/**
 * One stack with `workers` snapshot workers, its RegionOne object store the Swift sink and its catalog behind the
 * statement-counting proxy: every volume gets distinct content and a first snapshot, then new content in every
 * block and a second snapshot, then each second snapshot is restored into a new volume on the host.
 */
export async function runOnStack(shape: RunShape, log: (m: string) => void): Promise<RunResult> {
  const sink = await startSinkProcess(shape.sinkMaxBytes);
  const catalog = new URL(ADMIN_DATABASE_URL);
  const proxy = await startChildServer<MessageCounts>(join(__dirname, '..', 'catalog-counter', 'counting-proxy-main.js'), [
    catalog.hostname,
    catalog.port || '5432',
  ]);
  const stoppers: (() => Promise<void>)[] = [() => proxy.stop(), () => sink.stop()];
  try {
    const island = await startIsland({
      workers: shape.workers,
      swiftAuthUrls: { RegionOne: sink.authUrl },
      catalogAddress: `127.0.0.1:${proxy.port}`,
      env: { ISLAND_BLOCK_SIZE: String(shape.blockSize) },
    });
    stoppers.unshift(() => island.stop());
    const io = guestIo(island);
    const sizeBytes = shape.blocksPerVolume * shape.blockSize;
    const volumes: { id: string; path: string }[] = [];
    for (let v = 0; v < shape.volumes; v++) {
      const id = await io.createVolume(sizeBytes);
      volumes.push({ id, path: await io.attach(id) });
    }
    const markAll = () => Promise.all(volumes.map((v) => writeBlockMarkers(v.path, shape.blocksPerVolume, shape.blockSize)));
    // the ceiling is a steady state: code compiled on first use, memory grown to its working size, the catalog's first
    // connections and the project's first key are paid here, once, by a warm-up as large as a phase
    const warmUpBlocks = shape.volumes * shape.blocksPerVolume;
    const warmUp = await io.createVolume(warmUpBlocks * shape.blockSize);
    await writeBlockMarkers(await io.attach(warmUp), warmUpBlocks, shape.blockSize);
    await restoreAll(island, await snapshotAll(island, [warmUp]), warmUpBlocks * shape.blockSize);
    await analyzeCatalog(island.databaseUrl);
    const probe = await StackProbe.open(island, shape.workers, sink, proxy);
    stoppers.unshift(() => probe.close());
    const phase = async (what: string, work: () => Promise<unknown>): Promise<PhaseUsage> => {
      const before = await probe.read('start');
      await work();
      const usage = usageBetween(before, await probe.read('end'));
      log(`${shape.workers} worker(s), ${what}: ${usage.seconds.toFixed(1)} s, ${JSON.stringify(usage)}`);
      return usage;
    };
    await markAll();
    const idle = await phase('idle', () => pollIdle(island, IDLE_SECONDS));
    const firstSnapshots = await phase('first snapshots', () =>
      snapshotAll(
        island,
        volumes.map((v) => v.id),
      ),
    );
    await markAll();
    let second: string[] = [];
    const nextSnapshots = await phase(
      'next snapshots',
      async () =>
        (second = await snapshotAll(
          island,
          volumes.map((v) => v.id),
        )),
    );
    const restores = await phase('restores', () => restoreAll(island, second, sizeBytes));
    const held = await sink.counts();
    if (held.refusedForMemory > 0) throw new Error(`the sink refused ${held.refusedForMemory} PUTs for memory: raise sinkMaxBytes`);
    return { shape, blocks: shape.volumes * shape.blocksPerVolume, idle, firstSnapshots, nextSnapshots, restores };
  } finally {
    for (const stop of stoppers) await stop().catch((e: Error) => log(`stopping: ${e.message}`));
  }
}

/**
 * The statistics autovacuum gives a catalog that has run a while. This one is minutes old and grew from empty, and a
 * session's prepared statement keeps the plan it made after its first executions until the next ANALYZE: the workers'
 * block claim, planned when the block table was empty, scanned every block of the region per claim (6 ms each at
 * 6,000 rows) until autovacuum came by.
 */
async function analyzeCatalog(databaseUrl: string): Promise<void> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query('ANALYZE');
  } finally {
    await db.end();
  }
}
