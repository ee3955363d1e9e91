import { isAllZero } from './zero-bytes';

describe('isAllZero', () => {
  it('recognises all-zero blocks, which are never stored', () => {
    expect(isAllZero(Buffer.alloc(1 << 20))).toBe(true);
    const almost = Buffer.alloc(1 << 20);
    almost[almost.length - 1] = 1;
    expect(isAllZero(almost)).toBe(false);
  });

  it('answers for an empty buffer, and for one longer than any asked about before', () => {
    expect(isAllZero(Buffer.alloc(0))).toBe(true);
    expect(isAllZero(Buffer.alloc(3 << 20))).toBe(true);
    expect(isAllZero(Buffer.from([0, 0, 7]))).toBe(false);
  });
});
