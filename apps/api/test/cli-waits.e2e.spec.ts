import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
const CLI = join(__dirname, '..', '..', 'cli', 'bin', 'island');

/** `island … --wait` as an operator runs it while the API restarts under it. */
describe('the CLI waiting through an API restart', () => {
  const island = useIsland();
  const io = guestIo(island);

  it('keeps waiting for a snapshot while the API is down, says so, and reports the snapshot once it is back', async () => {
    const volume = await io.createVolume(128 * MIB);
    const path = await io.attach(volume);
    await io.write(path, 0, randomBytes(96 * MIB));
    const cli = spawn(process.execPath, [CLI, 'snapshot', 'create', volume, '--wait', '--json'], {
      env: { ...process.env, ISLAND_API_URL: island.api, ISLAND_TOKEN: island.token },
    });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
    // the CLI has created the snapshot and polls it: the API goes away for a few seconds
    for (let i = 0; i < 100; i++) {
      const listed = await island.request<{ snapshots: unknown[] }>('GET', `/v1/snapshots?volumeId=${volume}`);
      if (listed.body.snapshots.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    island.kill('api');
    await new Promise((r) => setTimeout(r, 3000));
    await island.revive('api');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/cannot reach the island API .*; still waiting for snapshot/);
    expect(JSON.parse(stdout)).toMatchObject({ volumeId: volume, status: 'available' });
  }, 120_000);
});
