import { Benchmark } from './benchmark';
import { blockSize } from './benchmarks/block-size';
import { controlPlane } from './benchmarks/control-plane';
import { catalogScale } from './benchmarks/catalog-scale';
import { changedBlocks } from './benchmarks/changed-blocks';
import { cpuPerGib } from './benchmarks/cpu-per-gib';
import { encryption } from './benchmarks/encryption';
import { lazyRestore } from './benchmarks/lazy-restore';
import { memoryBounded } from './benchmarks/memory-bounded';
import { qcow2Io } from './benchmarks/qcow2-io';
import { regionCopy } from './benchmarks/region-copy';
import { snapshotDeletion } from './benchmarks/snapshot-deletion';
import { snapshotPipeline } from './benchmarks/snapshot-pipeline';
import { snapshotScaling } from './benchmarks/snapshot-scaling';
import { swiftThroughput } from './benchmarks/swift-throughput';

/** Every benchmark `npm run bench` knows, in the order they run. */
export const BENCHMARKS: Benchmark[] = [
  swiftThroughput,
  qcow2Io,
  snapshotPipeline,
  snapshotScaling,
  snapshotDeletion,
  blockSize,
  regionCopy,
  lazyRestore,
  encryption,
  cpuPerGib,
  memoryBounded,
  controlPlane,
  catalogScale,
  changedBlocks,
];
