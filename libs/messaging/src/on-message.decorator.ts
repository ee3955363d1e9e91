import { ContractDefinition } from '@island/contracts';

export const ON_MESSAGE = Symbol('island:on-message');

/** Marks a provider method as the handler of one contract; discovered and checked when the service starts. */
export function OnMessage(contract: ContractDefinition): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    Reflect.defineMetadata(ON_MESSAGE, contract, descriptor.value as object);
    return descriptor;
  };
}
