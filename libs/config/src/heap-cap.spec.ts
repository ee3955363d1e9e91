import { heapCapInForce, heapCapMib, nodeHeapFlags } from './heap-cap';
import { ConfigError, DEFAULT_HEAP_MIB } from './load-config';

describe('the heap cap', () => {
  it('launches a process with 192 MiB of old space when ISLAND_HEAP_MIB is not set', () => {
    expect(DEFAULT_HEAP_MIB).toBe(192);
    expect(nodeHeapFlags({})).toEqual(['--max-old-space-size=192', '--max-semi-space-size=4']);
  });

  it('launches a process with the old space ISLAND_HEAP_MIB names', () => {
    expect(heapCapMib({ ISLAND_HEAP_MIB: '512' })).toBe(512);
    expect(nodeHeapFlags({ ISLAND_HEAP_MIB: '96' })).toEqual(['--max-old-space-size=96', '--max-semi-space-size=4']);
  });

  it.each(['63', '16385', 'lots', '128.5', '-1'])('refuses ISLAND_HEAP_MIB=%s with a message naming it', (value) => {
    expect(() => nodeHeapFlags({ ISLAND_HEAP_MIB: value })).toThrow(ConfigError);
    expect(() => nodeHeapFlags({ ISLAND_HEAP_MIB: value })).toThrow(/ISLAND_HEAP_MIB/);
  });

  it('reads the cap node was given on its command line, over NODE_OPTIONS, the last one winning', () => {
    expect(heapCapInForce(['--max-old-space-size=192', 'main.js'], '')).toBe(192);
    expect(heapCapInForce(['--max_old_space_size=100', '--max-old-space-size=300'], '--max-old-space-size=64')).toBe(300);
    expect(heapCapInForce([], '--enable-source-maps --max-old-space-size=64')).toBe(64);
    expect(heapCapInForce(['--cpu-prof'], '')).toBeUndefined();
  });
});
