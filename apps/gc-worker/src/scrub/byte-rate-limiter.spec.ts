import { ByteRateLimiter } from './byte-rate-limiter';

describe(ByteRateLimiter.name, () => {
  it('holds concurrent readers to the rate: 2 MiB at 4 MiB/s take about half a second, less the burst', async () => {
    const limiter = new ByteRateLimiter(4 * 1048576, 100);
    const started = performance.now();
    await Promise.all(Array.from({ length: 8 }, () => limiter.take(262144)));
    const seconds = (performance.now() - started) / 1000;
    expect(seconds).toBeGreaterThanOrEqual(0.39);
    expect(seconds).toBeLessThan(1.5);
  });

  it('does not wait when the rate is 0 (unlimited)', async () => {
    const limiter = new ByteRateLimiter(0);
    const started = performance.now();
    for (let i = 0; i < 100; i++) await limiter.take(1 << 30);
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('stops waiting when its signal fires', async () => {
    const limiter = new ByteRateLimiter(1024, 0);
    const abort = new AbortController();
    const waiting = limiter.take(1 << 20, abort.signal);
    abort.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });
});
