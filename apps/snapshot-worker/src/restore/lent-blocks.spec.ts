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

  it("releases a block's reserved memory with its last holder, and at the end what a failed restore left held", async () => {
    const buffers = new BlockBuffers();
    const budget = new BlockMemoryBudget(4 * MIB);
    const lent = new LentBlocks(buffers);
    const written = buffers.take(MIB);
    const stuck = buffers.take(MIB);
    for (const block of [written, stuck]) {
      lent.hold(block);
      lent.reservedFor(block, await budget.reserve(MIB));
    }
    expect(budget.reservedBytes).toBe(2 * MIB);
    lent.release(written);
    expect(budget.reservedBytes).toBe(MIB);
    lent.releaseReservations(); // the restore failed with `stuck` still queued for a write that never came
    expect(budget.reservedBytes).toBe(0);
    lent.release(stuck); // a late release reserves nothing back and releases nothing twice
    expect(budget.reservedBytes).toBe(0);
  });
});
