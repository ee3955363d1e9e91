import { resolve } from 'node:path';
import { Logger } from '@nestjs/common';

/** What island's addon (native/) exports. */
export interface NativeAddon {
  seal(key: Buffer, nonce: Buffer, associatedData: Buffer, plaintext: Buffer, output: Buffer): void;
  open(key: Buffer, nonce: Buffer, associatedData: Buffer, sealed: Buffer, output: Buffer): boolean;
  /** 16 bytes per buffer: their MD5 digests in order, computed in vector lanes of `kind` (default the widest). */
  md5Many(buffers: Buffer[], kind?: Md5LanesKind): Buffer;
  /** The kinds this CPU runs, widest first. */
  md5Kinds(): Md5LanesKind[];
  /** Bytes from the start of `memory` to its first address that is a multiple of `alignment` (a power of two). */
  bytesToAlignment(memory: ArrayBuffer | ArrayBufferView, alignment: number): number;
}

export type Md5LanesKind = 'avx512' | 'avx2' | 'scalar';

/** Where native/build.js puts the addon, from src/crypto or dist/crypto alike. */
export const NATIVE_ADDON_PATH = resolve(__dirname, '../../native/build/Release/island_native.node');

function loadAddon(): NativeAddon | undefined {
  try {
    return require(NATIVE_ADDON_PATH) as NativeAddon;
  } catch (error) {
    new Logger('NativeAddon').warn(
      `island's addon did not load (${(error as Error).message.split('\n')[0]}): sealing, opening and hashing blocks with node:crypto, ` +
        'restored images written through the page cache, which costs more CPU per GiB; build it with `npx nx run blockstore:build` (needs a C compiler, make and python3)',
    );
    return undefined;
  }
}

/** The process's addon, or undefined where it is not built (callers fall back to node:crypto). */
export const nativeAddon: NativeAddon | undefined = loadAddon();
