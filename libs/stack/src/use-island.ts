import { IslandStack, StackOptions, startIsland } from './island-stack';

type Hook = (fn: () => Promise<void>, timeoutMs?: number) => void;
declare const beforeAll: Hook;
declare const afterAll: Hook;

/**
 * A test file's stack: started before its tests (Jest's beforeAll, registered here, so it runs before the
 * file's own set-up hooks) and stopped after them. The returned object stands for the stack once started.
 */
export function useIsland(options: StackOptions = {}, startTimeoutMs = 120_000): IslandStack {
  let stack: IslandStack | undefined;
  beforeAll(async () => {
    stack = await startIsland(options);
  }, startTimeoutMs);
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);
  return new Proxy({} as IslandStack, {
    get(_, key) {
      if (!stack) throw new Error(`island.${String(key)} used before the stack started (useIsland starts it in beforeAll)`);
      const value: unknown = Reflect.get(stack, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(stack) : value;
    },
  });
}
