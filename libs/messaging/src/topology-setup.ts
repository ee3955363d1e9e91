import { Channel } from 'amqplib';
import { QueueSpec } from '@island/contracts';
import { BrokerNames } from './broker-names';

/** A poison message that crashes its consumer over and over is dead-lettered by the broker after this. */
const DELIVERY_LIMIT = 20;

/**
 * Declares what a service needs (idempotent; runs after every (re)connection): the topic exchange, the
 * dead-letter exchange and queue, and for each consumed queue a durable quorum queue with its bindings and
 * one retry queue per delay. Retry queues hold a message for their TTL, then dead-letter it back into the
 * queue through the default exchange; one queue per delay avoids head-of-line blocking by longer delays.
 */
export async function declareTopology(channel: Channel, names: BrokerNames, queues: QueueSpec[], retryDelaysMs: number[]): Promise<string[]> {
  await channel.assertExchange(names.exchange, 'topic', { durable: true });
  await channel.assertExchange(names.deadExchange, 'fanout', { durable: true });
  await channel.assertQueue(names.deadQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(names.deadQueue, names.deadExchange, '');
  const declared: string[] = [];
  for (const spec of queues) {
    const queue = names.queue(spec);
    await channel.assertQueue(queue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': DELIVERY_LIMIT, 'x-dead-letter-exchange': names.deadExchange },
    });
    for (const key of spec.bindings) await channel.bindQueue(queue, names.exchange, key);
    for (const delay of new Set(retryDelaysMs)) {
      await channel.assertQueue(names.retryQueue(queue, delay), {
        durable: true,
        arguments: { 'x-message-ttl': delay, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue },
      });
    }
    declared.push(queue);
  }
  return declared;
}
