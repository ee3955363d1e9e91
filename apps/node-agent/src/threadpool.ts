/**
 * Imported first by main.ts. The agent fills a volume exported as a FUSE file by reading that file (fill-run.ts): each
 * such read holds one of libuv's worker threads until qemu-storage-daemon answers it, and the daemon answers only once
 * the agent's snapshot server — whose own file reads need those same threads — has served the block. With libuv's
 * default of 4 threads, 4 reads in flight deadlocked the agent; it gets more, and the FUSE reads are fewer than that.
 */
const THREADS = 16;
process.env.UV_THREADPOOL_SIZE ??= String(THREADS);
