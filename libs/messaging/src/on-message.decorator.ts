import { ContractDefinition, PayloadOf } from '@island/contracts';
import { MessageHandler } from './message-context';

export const ON_MESSAGE = Symbol('island:on-message');

/**
 * Marks a provider method as the handler of one contract; discovered and checked when the service starts.
 * It compiles only on a method that takes the contract's payload (or a supertype of it) and, if it takes a
 * second argument, the delivery's MessageContext: a handler and its contract cannot drift apart.
 */
export function OnMessage<C extends ContractDefinition>(contract: C) {
  return <H extends MessageHandler<PayloadOf<C>>>(
    _target: object,
    _key: string | symbol,
    descriptor: TypedPropertyDescriptor<H>,
  ): TypedPropertyDescriptor<H> => {
    Reflect.defineMetadata(ON_MESSAGE, contract, descriptor.value as object);
    return descriptor;
  };
}
