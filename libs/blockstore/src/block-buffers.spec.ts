import { BLOCK_MEMORY_ALIGNMENT, BlockBuffers, blockMemoryAligned } from './block-buffers';
import { nativeAddon } from './crypto/native-addon';

const MIB = 1024 * 1024;

describe('BlockBuffers', () => {
  it('lends a body given back again instead of allocating new memory', () => {
    const buffers = new BlockBuffers();
    const first = buffers.take(MIB);
    expect(first.length).toBe(MIB);
    buffers.giveBack(first);
    expect(buffers.heldBytes).toBe(first.buffer.byteLength);
    const second = buffers.take(MIB);
    expect(second.buffer).toBe(first.buffer);
    expect(buffers.heldBytes).toBe(0);
  });

  it('lends a shorter body the smallest free memory large enough, at the length asked for, and allocates when none is', () => {
    const buffers = new BlockBuffers();
    const block = buffers.take(MIB);
    const half = buffers.take(MIB / 2);
    buffers.giveBack(block);
    buffers.giveBack(half);
    const small = buffers.take(256 * 1024);
    expect(small.length).toBe(256 * 1024);
    expect(small.buffer).toBe(half.buffer);
    const larger = buffers.take(700 * 1024);
    expect(larger.length).toBe(700 * 1024);
    expect(larger.buffer).toBe(block.buffer);
    expect(buffers.heldBytes).toBe(0);
    const fresh = buffers.take(100 * 1024);
    expect([block.buffer, half.buffer]).not.toContain(fresh.buffer);
    buffers.giveBack(larger);
    expect(buffers.take(2 * MIB).buffer).not.toBe(block.buffer); // smaller memory never stands in for more
  });

  it('keeps memory given back twice only once, so two callers never share it', () => {
    const buffers = new BlockBuffers();
    const body = buffers.take(MIB);
    buffers.giveBack(body);
    buffers.giveBack(body);
    expect(buffers.heldBytes).toBe(body.buffer.byteLength);
    const a = buffers.take(MIB);
    const b = buffers.take(MIB);
    expect(a.buffer).not.toBe(b.buffer);
  });

  it('ignores memory it did not lend, views of what it lent, small bodies and memory beyond its limit', () => {
    const buffers = new BlockBuffers(3 * MIB); // room for two bodies of 1 MiB (each in memory a little larger), not three
    buffers.giveBack(Buffer.allocUnsafe(MIB)); // not lent here
    const lent = buffers.take(2 * MIB);
    buffers.giveBack(lent.subarray(0, MIB)); // a view: the rest of its memory may still be in use
    buffers.giveBack(buffers.take(1024));
    expect(buffers.heldBytes).toBe(0);
    const bodies = [buffers.take(MIB), buffers.take(MIB), buffers.take(MIB)];
    for (const body of bodies) buffers.giveBack(body);
    expect(buffers.heldBytes).toBe(2 * bodies[0].buffer.byteLength);
  });

  it('ignores a body given back again after its memory went out as another, so its new owner keeps it alone', () => {
    const buffers = new BlockBuffers();
    const first = buffers.take(MIB);
    buffers.giveBack(first);
    const second = buffers.take(MIB);
    expect(second.buffer).toBe(first.buffer);
    buffers.giveBack(first); // a stale owner: ignored
    expect(buffers.heldBytes).toBe(0);
    expect(buffers.take(MIB).buffer).not.toBe(second.buffer);
  });

  it('lends odd lengths from size classes, so bodies of many lengths reuse memory instead of filling the pool', () => {
    const buffers = new BlockBuffers(4 * MIB);
    const odd = buffers.take(MIB - 123);
    expect(odd.length).toBe(MIB - 123);
    buffers.giveBack(odd);
    const other = buffers.take(MIB - 1234);
    expect(other.buffer).toBe(odd.buffer);
    expect(other.length).toBe(MIB - 1234);
    buffers.giveBack(other);
    const copy = buffers.takeForCopiedBytes(MIB - 9);
    expect(copy.buffer).toBe(odd.buffer);
    expect(copy.length).toBe(MIB - 9);
  });

  it("lends a block's sealed object (a header and tag longer) the memory the block gave back, and the other way round", () => {
    const buffers = new BlockBuffers();
    const block = buffers.take(MIB);
    buffers.giveBack(block);
    const sealed = buffers.take(MIB + 40);
    expect(sealed.buffer).toBe(block.buffer);
    buffers.giveBack(sealed);
    expect(buffers.take(MIB).buffer).toBe(block.buffer);
  });

  it('lends memory starting at a page boundary, fresh or reused, whatever the length (a restore writes it past the page cache)', () => {
    const addon = nativeAddon;
    if (!addon) throw new Error("island's addon is not built: `npx nx run blockstore:build`");
    const buffers = new BlockBuffers();
    const lengths = [64 * 1024, MIB, MIB + 40, MIB - 1234, 3 * MIB + 7, 4 * MIB];
    const lent = lengths.map((length) => buffers.take(length));
    for (const body of lent) buffers.giveBack(body);
    const reused = lengths.map((length) => buffers.take(length));
    for (const body of [...lent, ...reused]) {
      expect(addon.bytesToAlignment(body, BLOCK_MEMORY_ALIGNMENT)).toBe(0);
      expect(body.byteOffset + body.length).toBeLessThanOrEqual(body.buffer.byteLength);
    }
    expect(reused.map((body) => body.length)).toEqual(lengths);
    const lentMemory = new Set(lent.map((body) => body.buffer));
    expect(reused.filter((body) => !lentMemory.has(body.buffer))).toEqual([]); // all reused, none new
    expect(blockMemoryAligned?.(reused[1])).toBe(true);
    expect(blockMemoryAligned?.(reused[1].subarray(16))).toBe(false);
  });

  it('says where memory starts relative to an alignment, and names a wrong argument', () => {
    const addon = nativeAddon;
    if (!addon) throw new Error("island's addon is not built: `npx nx run blockstore:build`");
    const memory = Buffer.allocUnsafeSlow(2 * MIB);
    const gap = addon.bytesToAlignment(memory, 4096);
    expect(gap).toBeLessThan(4096);
    expect(addon.bytesToAlignment(memory.buffer, 4096)).toBe(gap);
    expect(addon.bytesToAlignment(memory.subarray(gap), 4096)).toBe(0);
    expect(addon.bytesToAlignment(memory.subarray(gap + 1), 4096)).toBe(4095);
    expect(addon.bytesToAlignment(new Uint32Array(memory.buffer, gap + 8, 4), 4096)).toBe(4088);
    expect(() => addon.bytesToAlignment(memory, 3000)).toThrow('alignment is not a power of two');
    expect(() => addon.bytesToAlignment({} as Buffer, 4096)).toThrow('memory is not an ArrayBuffer or a view of one');
  });
});
