import { createHash } from 'node:crypto';
import { Md5LanesKind, nativeAddon } from './native-addon';

/**
 * The MD5s Swift checks block PUTs against, for many buffers at once: island's addon hashes them side by side in
 * vector lanes (native/md5_lanes.c: 16 at a time, with AVX-512 or as two groups of 8 with AVX2), several times cheaper
 * per byte than one stream at a time; node:crypto where the addon is not built or the CPU has neither (the addon's
 * scalar code, which finishes the lanes' last buffers, is no faster than OpenSSL's).
 */
export interface Md5Many {
  readonly implementation: Md5LanesKind | 'node:crypto';
  /** Each buffer's MD5 in hex (an ETag), in order. */
  hex(buffers: readonly Buffer[]): string[];
}

const nodeCryptoMd5: Md5Many = {
  implementation: 'node:crypto',
  hex: (buffers) => buffers.map((buffer) => createHash('md5').update(buffer).digest('hex')),
};

function lanes(kind: Md5LanesKind): Md5Many {
  return {
    implementation: kind,
    hex(buffers) {
      const digests = nativeAddon!.md5Many(buffers as Buffer[], kind);
      return buffers.map((_, i) => digests.toString('hex', 16 * i, 16 * i + 16));
    },
  };
}

/** Every implementation this process can run, the widest lanes first and node:crypto last: for specs and benches. */
export const md5ManyImplementations: Md5Many[] = [...(nativeAddon?.md5Kinds() ?? []).map(lanes), nodeCryptoMd5];

/** The process's: the widest vector lanes this CPU runs, else node:crypto. */
export const md5Many: Md5Many = md5ManyImplementations.find((m) => m.implementation === 'avx512' || m.implementation === 'avx2') ?? nodeCryptoMd5;
