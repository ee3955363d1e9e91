import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Pauses at a named dangerous point for a random time, when the environment asks for it — how the race
 * tests widen the windows between "decide" and "act". ISLAND_INJECT_DELAYS_MS is `point=maxMs,…` or
 * `*=maxMs` (every point). Unset in production: then this returns at once.
 */
const configured = parseDelays(process.env.ISLAND_INJECT_DELAYS_MS ?? '');

export function parseDelays(spec: string): Map<string, number> {
  const delays = new Map<string, number>();
  for (const item of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^([a-z*][a-z0-9.*-]*)=(\d{1,6})$/.exec(item);
    if (!match) throw new Error(`ISLAND_INJECT_DELAYS_MS: "${item}" is not point=maxMs`);
    delays.set(match[1], Number(match[2]));
  }
  return delays;
}

export async function injectedDelay(point: string): Promise<void> {
  if (configured.size === 0) return;
  const max = configured.get(point) ?? configured.get('*');
  if (!max) return;
  await sleep(Math.floor(Math.random() * max));
}
