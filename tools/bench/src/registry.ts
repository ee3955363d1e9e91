import { Benchmark } from './benchmark';
import { qcow2Io } from './benchmarks/qcow2-io';
import { snapshotDeletion } from './benchmarks/snapshot-deletion';
import { snapshotPipeline } from './benchmarks/snapshot-pipeline';
import { swiftThroughput } from './benchmarks/swift-throughput';

/** Every benchmark `npm run bench` knows, in the order they run. */
export const BENCHMARKS: Benchmark[] = [swiftThroughput, qcow2Io, snapshotPipeline, snapshotDeletion];
