import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { aead, aeadImplementations } from './aead';
import { NATIVE_ADDON_PATH } from './native-addon';

const { nodeCrypto, loaded } = aeadImplementations;

function sealWith(implementation: typeof aead, key: Buffer, nonce: Buffer, ad: Buffer, plaintext: Buffer): Buffer {
  const output = Buffer.alloc(plaintext.length + 16);
  implementation.seal(key, nonce, ad, plaintext, output);
  return output;
}

describe('AES-256-GCM into given memory', () => {
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const ad = Buffer.from('ISLB header\0blocks/ab/abcdef');

  it('is island’s addon in this checkout, not the node:crypto fallback (the build makes it)', () => {
    expect({ implementation: aead.implementation, path: NATIVE_ADDON_PATH }).toEqual({ implementation: 'native', path: NATIVE_ADDON_PATH });
  });

  it.each([0, 1, 15, 16, 4097, 1024 * 1024 + 7])('seals %i bytes exactly as node:crypto does, and opens what either sealed', (size) => {
    const plaintext = randomBytes(size);
    const byAddon = sealWith(loaded, key, nonce, ad, plaintext);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce).setAAD(ad);
    decipher.setAuthTag(byAddon.subarray(size));
    expect(Buffer.concat([decipher.update(byAddon.subarray(0, size)), decipher.final()]).equals(plaintext)).toBe(true);

    const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(ad);
    const byNode = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    expect(byAddon.equals(byNode)).toBe(true);
    expect(sealWith(nodeCrypto, key, nonce, ad, plaintext).equals(byNode)).toBe(true);

    for (const implementation of [loaded, nodeCrypto]) {
      const opened = Buffer.alloc(size);
      expect(implementation.open(key, nonce, ad, byNode, opened)).toBe(true);
      expect(opened.equals(plaintext)).toBe(true);
    }
  });

  it.each([
    ['a flipped ciphertext bit', (s: Buffer) => (s[3] ^= 1), key, ad],
    ['a flipped tag bit', (s: Buffer) => (s[s.length - 1] ^= 0x80), key, ad],
    ['another key', () => undefined, randomBytes(32), ad],
    ['other associated data (another object name)', () => undefined, key, Buffer.from('ISLB header\0blocks/ab/abcdee')],
  ])('refuses %s and leaves no plaintext in the output', (_what, damage, openKey, openAd) => {
    const plaintext = randomBytes(64 * 1024);
    const sealed = sealWith(loaded, key, nonce, ad, plaintext);
    damage(sealed);
    for (const implementation of [loaded, nodeCrypto]) {
      const opened = Buffer.from(plaintext);
      expect(implementation.open(openKey, nonce, openAd, sealed, opened)).toBe(false);
      expect(opened.equals(Buffer.alloc(opened.length))).toBe(true);
    }
  });

  it('names what is wrong with its arguments, and writes nothing', () => {
    const plaintext = randomBytes(100);
    const output = Buffer.alloc(116, 7);
    expect(() => loaded.seal(randomBytes(16), nonce, ad, plaintext, output)).toThrow('seal: the key is 16 bytes, not 32');
    expect(() => loaded.seal(key, randomBytes(16), ad, plaintext, output)).toThrow('seal: the nonce is 16 bytes, not 12');
    expect(() => loaded.seal(key, nonce, ad, plaintext, Buffer.alloc(100))).toThrow('seal: the output is 100 bytes, not 116');
    expect(() => loaded.open(key, nonce, ad, Buffer.alloc(10), Buffer.alloc(0))).toThrow('open: the sealed bytes are shorter than a tag');
    expect(() => loaded.open(key, nonce, ad, output, Buffer.alloc(116))).toThrow('open: the output is 116 bytes, not 100');
    expect(() => loaded.seal(key, nonce, 'text' as unknown as Buffer, plaintext, output)).toThrow(/takes five Buffers; argument 3 is not one/);
    expect(output.equals(Buffer.alloc(116, 7))).toBe(true);
  });
});
