import { ApiClient } from '../api/api-client';
import { CliError } from '../cli-error';
import { volumeCommand } from './volume.command';

const SNAPSHOT = '5d0c7a2e-8d1b-4c55-9a43-3f1c6f0e2b11';

function apiRecording(): { api: ApiClient; posts: Array<{ path: string; body: unknown }> } {
  const posts: Array<{ path: string; body: unknown }> = [];
  const api = {
    post: async (path: string, body: unknown) => {
      posts.push({ path, body });
      return { id: 'v1', status: 'available', sizeBytes: 0, region: 'RegionOne', host: null };
    },
  } as unknown as ApiClient;
  return { api, posts };
}

async function run(api: ApiClient, ...args: string[]): Promise<void> {
  const command = volumeCommand(api).exitOverride();
  command.commands.forEach((c) => c.exitOverride());
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await command.parseAsync(args, { from: 'user' });
  } finally {
    log.mockRestore();
  }
}

describe('island volume create', () => {
  it('asks for a volume of the snapshot’s size when --snapshot is given without --size', async () => {
    const { api, posts } = apiRecording();
    await run(api, 'create', '--snapshot', SNAPSHOT, '--json');
    expect(posts).toEqual([{ path: '/v1/volumes', body: { snapshotId: SNAPSHOT } }]);
  });

  it('sends the size it is given, with or without a snapshot', async () => {
    const { api, posts } = apiRecording();
    await run(api, 'create', '--size', '10G', '--json');
    await run(api, 'create', '--size', '12G', '--snapshot', SNAPSHOT, '--json');
    expect(posts.map((p) => p.body)).toEqual([{ sizeBytes: 10 * 1024 ** 3 }, { sizeBytes: 12 * 1024 ** 3, snapshotId: SNAPSHOT }]);
  });

  it('refuses to create an empty volume without a size, before asking the API', async () => {
    const { api, posts } = apiRecording();
    await expect(run(api, 'create', '--name', 'data')).rejects.toEqual(new CliError('--size is required unless --snapshot is given'));
    expect(posts).toEqual([]);
  });
});
