import { createCipheriv, createDecipheriv } from 'node:crypto';
import { droppedBuffers } from '@island/platform';
import { nativeAddon } from './native-addon';

/**
 * AES-256-GCM with a 12-byte nonce and a 16-byte tag, its output written into memory the caller gives: ciphertext
 * then tag for a seal, the plaintext for an open.
 */
export interface Aead {
  /** 'native': island's addon (native/aead.c); 'node:crypto': the fallback when the addon is not built (native-addon.ts). */
  readonly implementation: 'native' | 'node:crypto';
  /** `output` must be plaintext.length + 16 bytes. */
  seal(key: Buffer, nonce: Buffer, associatedData: Buffer, plaintext: Buffer, output: Buffer): void;
  /** `output` must be sealed.length - 16 bytes; false (output zeroed) unless `sealed` authenticates. */
  open(key: Buffer, nonce: Buffer, associatedData: Buffer, sealed: Buffer, output: Buffer): boolean;
}

export const AEAD_TAG_BYTES = 16;

/**
 * node:crypto allocates each output itself (a fresh 1 MiB per block, which glibc often hands back to the kernel and
 * faults in again) and this copies it where it belongs: the fallback costs ~0.3–3 CPU-s per GiB more than the addon.
 */
const nodeCryptoAead: Aead = {
  implementation: 'node:crypto',
  seal(key, nonce, associatedData, plaintext, output) {
    checkLength('seal', output, plaintext.length + AEAD_TAG_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(associatedData);
    cipher.update(plaintext).copy(output);
    cipher.final();
    cipher.getAuthTag().copy(output, plaintext.length);
    droppedBuffers.add(plaintext.length);
  },
  open(key, nonce, associatedData, sealed, output) {
    if (sealed.length < AEAD_TAG_BYTES) throw new RangeError('open: the sealed bytes are shorter than a tag');
    const length = sealed.length - AEAD_TAG_BYTES;
    checkLength('open', output, length);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce).setAAD(associatedData);
    decipher.setAuthTag(sealed.subarray(length));
    try {
      decipher.update(sealed.subarray(0, length)).copy(output);
      decipher.final();
      return true;
    } catch {
      output.fill(0);
      return false;
    } finally {
      droppedBuffers.add(length);
    }
  },
};

function checkLength(call: string, output: Buffer, expected: number): void {
  if (output.length !== expected) throw new RangeError(`${call}: the output is ${output.length} bytes, not ${expected}`);
}

/** The process's AES-256-GCM: the addon when it is built, else node:crypto. */
export const aead: Aead = nativeAddon ? { implementation: 'native', seal: nativeAddon.seal, open: nativeAddon.open } : nodeCryptoAead;

/** Both implementations, for specs that check they read each other's output. */
export const aeadImplementations = { nodeCrypto: nodeCryptoAead, loaded: aead };
