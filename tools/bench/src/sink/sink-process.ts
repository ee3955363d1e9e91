import { join } from 'node:path';
import { IslandStack, StackOptions, startIsland } from '@island/stack';
import { ChildServer, startChildServer } from '../child-servers/child-server';
import { SinkCounts } from './sink-objects';

/** The Swift sink as a process of its own, and the v1 auth URL a stack's RegionOne reaches it at. */
export interface SinkProcess extends ChildServer<SinkCounts> {
  authUrl: string;
}

/** Starts the sink (sink-main.js) holding at most `maxBytes` of object bodies. */
export async function startSinkProcess(maxBytes: number): Promise<SinkProcess> {
  const sink = await startChildServer<SinkCounts>(join(__dirname, 'sink-main.js'), [String(maxBytes)]);
  return { ...sink, authUrl: `http://127.0.0.1:${sink.port}/auth/v1.0` };
}

/** Runs `work` on a stack whose RegionOne object store is a sink process (Swift off the cores); both stop after. */
export async function withIslandOverSink<T>(
  maxBytes: number,
  options: Omit<StackOptions, 'swiftAuthUrls'>,
  work: (island: IslandStack, sink: SinkProcess) => Promise<T>,
): Promise<T> {
  const sink = await startSinkProcess(maxBytes);
  try {
    const island = await startIsland({ ...options, swiftAuthUrls: { RegionOne: sink.authUrl } });
    try {
      return await work(island, sink);
    } finally {
      await island.stop();
    }
  } finally {
    await sink.stop();
  }
}
