import { createHash, randomBytes } from 'node:crypto';
import { md5Many, md5ManyImplementations } from './md5-many';
import { nativeAddon } from './native-addon';

const md5 = (buffer: Buffer) => createHash('md5').update(buffer).digest('hex');

// the lengths where MD5's padding changes shape: one block of tail or two, a whole block, none
const EDGE_LENGTHS = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000];

describe('MD5 of many buffers at once', () => {
  it('is island’s addon’s widest vector lanes on this CPU, node:crypto only where it has none (the build makes the addon)', () => {
    expect(nativeAddon).toBeDefined();
    const widest = nativeAddon!.md5Kinds()[0];
    expect(md5Many.implementation).toBe(widest === 'scalar' ? 'node:crypto' : widest);
  });

  describe.each(md5ManyImplementations.map((implementation) => [implementation.implementation, implementation] as const))('with %s', (_, implementation) => {
    it('gives each buffer of the edge lengths its MD5, alone and all together', () => {
      const buffers = EDGE_LENGTHS.map((length) => randomBytes(length));
      for (const buffer of buffers) expect(implementation.hex([buffer])).toEqual([md5(buffer)]);
      expect(implementation.hex(buffers)).toEqual(buffers.map(md5));
    });

    it.each([0, 1, 2, 3, 7, 8, 9, 16, 17, 33])('gives %i buffers of unequal lengths each its own MD5, in order', (count) => {
      // lanes finish at different times and take the next buffer; the last ones finish one by one
      const buffers = Array.from({ length: count }, (_, i) => randomBytes(((i * 7919) % 5000) + (i % 3 === 0 ? 256 * 1024 : 0)));
      expect(implementation.hex(buffers)).toEqual(buffers.map(md5));
    });

    it('gives blocks of a snapshot’s size their MD5: 32 sealed 1 MiB blocks', () => {
      const buffers = Array.from({ length: 32 }, () => randomBytes(1024 * 1024 + 44));
      expect(implementation.hex(buffers)).toEqual(buffers.map(md5));
    });

    it('hashes views into a larger buffer by their own bytes only', () => {
      const whole = randomBytes(3 * 4096 + 17);
      const views = [whole.subarray(1, 4096), whole.subarray(4096, 8192 + 5), whole.subarray(9000)];
      expect(implementation.hex(views)).toEqual(views.map(md5));
    });
  });

  it('says which argument is wrong, naming it', () => {
    const addon = nativeAddon!;
    expect(() => addon.md5Many('not buffers' as unknown as Buffer[])).toThrow('md5Many(buffers, kind): buffers is not an array');
    expect(() => addon.md5Many([Buffer.alloc(1), 'two' as unknown as Buffer])).toThrow('md5Many(buffers, kind): buffers[1] is not a Buffer');
    expect(() => addon.md5Many([], 'sse9' as never)).toThrow("md5Many(buffers, kind): 'sse9' is not a kind this CPU runs");
  });
});
