import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Pauses at a named dangerous point for a random time, when the environment asks for it — how the race
 * tests widen the windows between "decide" and "act". ISLAND_INJECT_DELAYS_MS is `point=maxMs,…`,
 * `point=minMs-maxMs,…` or `*=maxMs` (every point). Unset in production: then this returns at once.
 */
const configured = parseDelays(process.env.ISLAND_INJECT_DELAYS_MS ?? '');

export function parseDelays(spec: string): Map<string, { min: number; max: number }> {
  const delays = new Map<string, { min: number; max: number }>();
  for (const item of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const match = /^([a-z*][a-z0-9._*-]*)=(?:(\d{1,6})-)?(\d{1,6})$/.exec(item);
    if (!match) throw new Error(`ISLAND_INJECT_DELAYS_MS: "${item}" is not point=maxMs or point=minMs-maxMs`);
    const max = Number(match[3]);
    delays.set(match[1], { min: Math.min(max, Number(match[2] ?? 0)), max });
  }
  return delays;
}

export async function injectedDelay(point: string): Promise<void> {
  if (configured.size === 0) return;
  const delay = configured.get(point) ?? configured.get('*');
  if (!delay || delay.max === 0) return;
  await sleep(delay.min + Math.floor(Math.random() * (delay.max - delay.min)));
}
