import { BlockBuffers, BlockMemoryBudget } from '@island/blockstore';
import { LentBlocks } from './lent-blocks';

const MIB = 1024 * 1024;

describe('the blocks a restore holds in lent memory', () => {
  it('gives a block back to its pool only when its last holder lets go', () => {
    const buffers = new BlockBuffers();
    const lent = new LentBlocks(buffers);
    const block = buffers.take(MIB);
    lent.hold(block); // the recent blocks
    lent.hold(block); // a queued write
    lent.hold(block); // a second write of the same block at another index
    lent.release(block);
    lent.release(block);
    expect(buffers.heldBytes).toBe(0);
    expect(lent.held).toBe(1);
    lent.release(block);
    expect(buffers.heldBytes).toBe(block.buffer.byteLength);
    expect(lent.held).toBe(0);
  });

  it('ignores a block nobody holds, so memory is never given back twice', () => {
    const buffers = new BlockBuffers();
    const lent = new LentBlocks(buffers);
    const block = buffers.take(MIB);
    lent.hold(block);
    lent.release(block);
    buffers.take(MIB); // lent out again to someone else
    lent.release(block);
    expect(buffers.heldBytes).toBe(0);
  });

  it("releases a block's reservation once no write holds it, while the recent blocks keep the block", async () => {
    const buffers = new BlockBuffers();
    const budget = new BlockMemoryBudget(4 * MIB);
    const lent = new LentBlocks(buffers);
    const block = buffers.take(MIB);
    lent.hold(block); // the recent blocks
    lent.reservedFor(block, await budget.reserve(MIB));
    lent.holdForWrite(block);
    lent.holdForWrite(block); // the same content at a second index
    lent.releaseWrite(block);
    expect(budget.reservedBytes).toBe(MIB);
    lent.releaseWrite(block);
    expect(budget.reservedBytes).toBe(0);
    expect(buffers.heldBytes).toBe(0); // still the recent blocks'
    lent.release(block);
    expect(buffers.heldBytes).toBe(block.buffer.byteLength);
    expect(lent.held).toBe(0);
  });

  it('releases at the end what a failed restore left reserved, and nothing twice after', async () => {
    const buffers = new BlockBuffers();
    const budget = new BlockMemoryBudget(4 * MIB);
    const lent = new LentBlocks(buffers);
    const stuck = buffers.take(MIB);
    lent.hold(stuck);
    lent.reservedFor(stuck, await budget.reserve(MIB));
    lent.holdForWrite(stuck); // queued for a write that never came
    lent.releaseReservations();
    expect(budget.reservedBytes).toBe(0);
    await budget.reserve(4 * MIB); // all of it, so a second release would show as a negative reservation
    lent.releaseWrite(stuck);
    lent.release(stuck);
    expect(budget.reservedBytes).toBe(4 * MIB);
  });
});
