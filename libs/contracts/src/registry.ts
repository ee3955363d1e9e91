import * as agent from './agent/agent-jobs';
import * as events from './events/events';
import * as gc from './gc/gc-jobs';
import * as worker from './worker/worker-jobs';
import { ContractDefinition, contractKey, ServiceName } from './contract';

/** Every contract island speaks; a service refuses to start unless it handles exactly those it consumes. */
export const CONTRACTS = [
  agent.ImageCreate,
  agent.SnapshotTake,
  agent.SnapshotDiff,
  agent.PointsInTimeRelease,
  agent.ImageReplace,
  agent.ImageDelete,
  agent.ImageGrow,
  agent.ImageExport,
  agent.ImageUnexport,
  agent.SnapshotTakeGroup,
  agent.ImageCreateFromSnapshot,
  worker.SnapshotUploadPart,
  worker.VolumeRestore,
  worker.SnapshotWriteManifest,
  worker.SnapshotCopy,
  worker.BlockRead,
  worker.BlockRecover,
  gc.GcRun,
  gc.Fsck,
  gc.CatalogRebuild,
  gc.KeysRotate,
  gc.KeyShred,
  events.ImageCreated,
  events.SnapshotTaken,
  events.SnapshotDiffed,
  events.SnapshotPartUploaded,
  events.SnapshotManifestWritten,
  events.SnapshotCopyProgressed,
  events.SnapshotCopyTransferred,
  events.VolumeRestored,
  events.OperationProgress,
  events.ImageReplaced,
  events.ImageDeleted,
  events.ImageExported,
  events.ImageUnexported,
  events.ImageServedAgain,
  events.ImageGrown,
  events.ImageFillProgressed,
  events.ImageFilled,
  events.ImageFillFailed,
  events.OperationFailed,
  events.OperationFinished,
  events.AgentHeartbeat,
] as const;

export type Contract = (typeof CONTRACTS)[number];
export type ContractName = Contract['name'];
/** The payload type of a contract, derived from its schema: a name and its payload cannot drift apart. */
export type PayloadOf<C extends ContractDefinition> = C extends ContractDefinition<string, infer P> ? P : never;

export function contractsConsumedBy(service: ServiceName): ContractDefinition[] {
  return CONTRACTS.filter((c) => c.consumer === service);
}

const names = CONTRACTS.map(contractKey);
const duplicate = names.find((n, i) => names.indexOf(n) !== i);
if (duplicate) throw new Error(`contract ${duplicate} is defined twice`);
