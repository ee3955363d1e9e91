/**
 * glibc's malloc settings for a qemu-storage-daemon. QEMU copies a fill (and every copy-on-read) through a bounce buffer
 * of one cluster — 1 MiB, a block, for a lazily filled image — and with glibc's default, adaptive thresholds a daemon
 * kept returning those pages to the kernel and faulting them in again: on its first 1 GiB fill, 264,000 page faults
 * (one per 4 KiB copied) and 4.8 CPU-seconds in the kernel, against 2,000 faults and 1.8 s for the next fill
 * (2026-12-04). Fixed thresholds keep buffers up to 4 MiB in the heap and up to 64 MiB of freed heap for the next one.
 */
export const STORAGE_DAEMON_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=67108864';

/** The environment to start a qemu-storage-daemon in: this process's, with STORAGE_DAEMON_MALLOC_TUNABLES unless the operator set tunables. */
export function storageDaemonEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, GLIBC_TUNABLES: env.GLIBC_TUNABLES ?? STORAGE_DAEMON_MALLOC_TUNABLES };
}
