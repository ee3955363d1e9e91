import { serveCounts } from '../child-servers/child-server';
import { startStatementCountingProxy } from './statement-counting-proxy';

/** `node counting-proxy-main.js <host> <port>`: the statement-counting proxy as a process of its own. */
async function main(): Promise<void> {
  const { port, counts } = await startStatementCountingProxy({ host: process.argv[2], port: Number(process.argv[3]) });
  serveCounts(port, () => ({ ...counts }));
  process.on('SIGTERM', () => process.exit(0));
}

void main();
