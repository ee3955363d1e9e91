/** What a handler knows about the delivery besides its payload. */
export interface MessageContext {
  /** e.g. "ImageCreate.v1" */
  contract: string;
  messageId?: string;
  /** 1 for the first delivery; counts island's own retries. */
  attempt: number;
  /** The broker redelivered it (a consumer died before acking): the work may be half done. */
  redelivered: boolean;
  /** No retry follows this attempt: if it fails, the message is dead-lettered (fail the operation now). */
  finalAttempt: boolean;
  routingKey: string;
  /** A request's reply queue and correlation id (MessageRequester); MessagePublisher.reply answers there. */
  replyTo?: string;
  correlationId?: string;
}

export type MessageHandler<P = object> = (payload: P, context: MessageContext) => Promise<void> | void;
