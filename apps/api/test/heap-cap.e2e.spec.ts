import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SEMI_SPACE_MIB } from '@island/config';
import { useIsland } from '@island/stack';

const MIB = 1 << 20;
const CAP_MIB = 128;
/** V8's young generation, on top of the old space the cap sets: 3 semi-spaces, of the size every launcher gives. */
const YOUNG_GENERATION_MIB = 3 * SEMI_SPACE_MIB;

/** V8's heap size limit a process reports on its /metrics. */
async function heapLimit(port: number): Promise<number> {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith('island_process_heap_size_limit_bytes '));
  if (!line) throw new Error(`port ${port} reports no island_process_heap_size_limit_bytes`);
  return Number(line.split(' ')[1]);
}

/** The V8 heap cap (ISLAND_HEAP_MIB) of every island process, as the launchers set it. */
describe('the heap cap', () => {
  const island = useIsland({ workers: 2, env: { ISLAND_HEAP_MIB: String(CAP_MIB) } });

  it("runs every process of the stack under ISLAND_HEAP_MIB's old space and 4 MiB semi-spaces", async () => {
    const { api, agent, gc, workers } = island.ports;
    for (const port of [api, agent, gc, ...workers]) {
      expect(await heapLimit(port)).toBe((CAP_MIB + YOUNG_GENERATION_MIB) * MIB);
    }
    expect(island.logs()).not.toMatch(/heap cap/);
  });

  it('warns when a process is launched without the cap ISLAND_HEAP_MIB asks for', async () => {
    const gc = spawn(process.execPath, [join(__dirname, '..', '..', 'gc-worker', 'dist', 'main.js')], {
      env: { ...process.env, ISLAND_HEAP_MIB: String(CAP_MIB), ISLAND_LOG_LEVEL: 'warn', ISLAND_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let printed = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const read = (data: Buffer) => {
          printed += data.toString();
          if (printed.includes('heap cap')) resolve();
        };
        gc.stdout.on('data', read);
        gc.stderr.on('data', read);
        gc.once('exit', () => reject(new Error(`the GC worker exited without a warning:\n${printed}`)));
      });
    } finally {
      gc.kill('SIGKILL');
    }
    expect(printed).toMatch(`runs with no heap cap, not ISLAND_HEAP_MIB's ${CAP_MIB} MiB: launch it with node --max-old-space-size=${CAP_MIB}`);
  });
});
