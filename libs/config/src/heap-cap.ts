import { loadConfig } from './load-config';

/** The V8 old-space cap an island process is launched with (ISLAND_HEAP_MIB); a bad value throws the ConfigError a process would. */
export function heapCapMib(env: NodeJS.ProcessEnv = process.env): number {
  return loadConfig({ ISLAND_HEAP_MIB: env.ISLAND_HEAP_MIB }).heap.oldSpaceMib;
}

/**
 * Young-generation semi-spaces of 4 MiB instead of node's 16: an island process allocates little JS per block (block
 * bodies live outside V8's heap), yet its new space grew to 32 MiB resident in every process; at 4 MiB a worker's
 * resident set is ~25 MiB smaller, idle and through a restore (docs/performance.md, "Peak memory of a restore").
 */
export const SEMI_SPACE_MIB = 4;

/** The node flags every launcher of an island process passes (scripts/run.sh, libs/stack, the Dockerfile's NODE_OPTIONS): its heap sizes. */
export function nodeHeapFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  return [`--max-old-space-size=${heapCapMib(env)}`, `--max-semi-space-size=${SEMI_SPACE_MIB}`];
}

/**
 * The old-space cap this process runs with, in MiB, as node was told (the last --max-old-space-size of its command
 * line or NODE_OPTIONS); undefined: none, V8 sizes the heap after the machine's memory.
 */
export function heapCapInForce(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): number | undefined {
  const flags = [...nodeOptions.split(/\s+/), ...execArgv];
  const caps = flags.map((flag) => /^--max[-_]old[-_]space[-_]size=(\d+)$/.exec(flag)?.[1]).filter((mib) => mib !== undefined);
  return caps.length > 0 ? Number(caps[caps.length - 1]) : undefined;
}
