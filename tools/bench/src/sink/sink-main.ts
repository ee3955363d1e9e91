import { serveCounts } from '../child-servers/child-server';
import { startSwiftSink } from './swift-sink';

/** `node sink-main.js <max bytes held>`: the Swift sink as a process of its own (see startChildServer). */
async function main(): Promise<void> {
  const { port, objects } = await startSwiftSink({ maxBytes: Number(process.argv[2]) });
  serveCounts(port, () => objects.snapshot());
  process.on('SIGTERM', () => process.exit(0));
}

void main();
