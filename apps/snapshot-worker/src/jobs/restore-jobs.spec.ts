import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProjectKeyService, RegionStores } from '@island/blockstore';
import type { IslandConfig } from '@island/config';
import type { MessageContext, MessagePublisher } from '@island/messaging';
import { MetricsService } from '@island/platform';
import { RestoreJobs } from './restore-jobs';

/** A restore whose Swift keeps failing (503) while an earlier attempt's partial image waits beside the target. */
function setUp() {
  const dataDir = mkdtempSync(join(tmpdir(), 'island-restore-jobs-'));
  const target = join(dataDir, 'volumes', 'v.qcow2');
  const partial = `${target}.restoring`;
  mkdirSync(join(dataDir, 'volumes'));
  const failingSwift = { store: async () => ({ readManifest: async () => Promise.reject(new Error('Swift GET manifest → 503')) }) } as unknown as RegionStores;
  const keys = { keysFor: async () => ({}) } as unknown as ProjectKeyService;
  const jobs = new RestoreJobs({ host: { dataDir } } as IslandConfig, failingSwift, keys, {} as MessagePublisher, new MetricsService());
  const job = {
    host: 'h',
    volumeId: '00000000-0000-4000-8000-000000000001',
    operationId: '00000000-0000-4000-8000-000000000002',
    purpose: 'attach',
    projectId: 'p',
    region: 'RegionOne',
    manifestObject: 'manifests/m',
    targetPath: target,
    sizeBytes: 1 << 20,
    pointInTime: 'island-restored',
  } as Parameters<RestoreJobs['restore']>[0];
  const context = (finalAttempt: boolean) => ({ attempt: finalAttempt ? 6 : 2, finalAttempt, redelivered: false }) as unknown as MessageContext;
  return { jobs, job, partial, context };
}

describe('a restore that fails while Swift is unavailable', () => {
  it('keeps the partial image for the retry that follows a transient failure', async () => {
    const { jobs, job, partial, context } = setUp();
    writeFileSync(partial, 'earlier attempt');
    writeFileSync(`${partial}.progress`, '{}');
    await expect(jobs.restore(job, context(false))).rejects.toThrow(/503/);
    expect(existsSync(partial)).toBe(true);
  });

  it('removes the partial image and its record when no retry follows (its last attempt)', async () => {
    const { jobs, job, partial, context } = setUp();
    writeFileSync(partial, 'earlier attempt');
    writeFileSync(`${partial}.progress`, '{}');
    await expect(jobs.restore(job, context(true))).rejects.toThrow(/503/);
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(`${partial}.progress`)).toBe(false);
  });
});
