import { createConnection, createServer, Server } from 'node:net';
import { AddressInfo } from 'node:net';
import { FrontendMessageCounter, MessageCounts } from './frontend-messages';

/**
 * A TCP proxy in front of PostgreSQL that counts the messages clients send (pg_stat_statements needs a server
 * restart to load; the catalog here is shared). Bytes pass unchanged both ways.
 */
export async function startStatementCountingProxy(upstream: { host: string; port: number }): Promise<{ server: Server; port: number; counts: MessageCounts }> {
  const counts: MessageCounts = {};
  const server = createServer((client) => {
    const server = createConnection(upstream);
    const counter = new FrontendMessageCounter(counts);
    client.on('data', (chunk: Buffer) => {
      counter.feed(chunk);
      server.write(chunk);
    });
    server.pipe(client);
    client.on('end', () => server.end());
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, counts };
}
