export { AmqpConnection } from './amqp-connection';
export { BrokerNames, HEADERS } from './broker-names';
export { checkHandlers } from './handler-discovery';
export { MessageContext, MessageHandler, reportingFinalFailure } from './message-context';
export { MessagePublisher } from './message-publisher';
export { BrokerUnavailableError, HandlerSetupError, PermanentMessageError } from './messaging-errors';
export { MessagingModule, MessagingModuleAsyncOptions } from './messaging.module';
export { DEFAULT_RETRY_DELAYS_MS, MessagingOptions } from './messaging-options';
export { OnMessage } from './on-message.decorator';
