import { ApiUnavailableError, CliError } from '../cli-error';
import { pollDelay, waitFor, WaitState } from './wait';

const done: WaitState = { state: 'done' };

describe(waitFor.name, () => {
  it('rides out an API that cannot be reached for a while, and says so on stderr', async () => {
    const said: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((text) => (said.push(String(text)), true));
    let calls = 0;
    try {
      const result = await waitFor(
        async () => {
          calls++;
          if (calls <= 2) throw new ApiUnavailableError('cannot reach the island API at http://127.0.0.1:1 (ECONNREFUSED)');
          return 'ready';
        },
        () => done,
        'snapshot s1',
      );
      expect(result).toBe('ready');
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(3);
    expect(said.join('')).toMatch(/ECONNREFUSED\); still waiting for snapshot s1/);
    expect(said.join('')).toMatch(/the API answers again; waiting for snapshot s1/);
  });

  it('gives up once the API has been unreachable longer than the bound', async () => {
    let clock = 0;
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(
        waitFor(
          async () => {
            clock += 200_000;
            throw new ApiUnavailableError('cannot reach the island API');
          },
          () => done,
          'attach v1',
          () => clock,
        ),
      ).rejects.toThrow(/gave up waiting for attach v1: cannot reach the island API for \d+ s/);
    } finally {
      spy.mockRestore();
    }
  });

  it('does not retry what the API refused', async () => {
    await expect(
      waitFor(
        async () => {
          throw new CliError('volume v1 not found (HTTP 404)');
        },
        () => done,
        'attach v1',
      ),
    ).rejects.toThrow('volume v1 not found (HTTP 404)');
  });
});

describe(pollDelay.name, () => {
  it('asks again after 50 ms at first, so that an operation of a few hundred ms is seen as it ends', () => {
    expect(pollDelay(0)).toBe(50);
    expect(pollDelay(150)).toBe(50);
  });

  it('overshoots the end of a wait by at most a quarter of the time waited', () => {
    for (const waited of [200, 400, 800, 1200, 1600]) expect(pollDelay(waited)).toBeLessThanOrEqual(Math.max(50, waited / 4));
  });

  it('asks no more often than every 400 ms once a wait is long', () => {
    expect(pollDelay(1600)).toBe(400);
    expect(pollDelay(600_000)).toBe(400);
  });
});
