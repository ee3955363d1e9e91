import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { ContractDefinition, contractKey } from '@island/contracts';
import { MessageHandler } from './message-context';
import { RegisteredHandler } from './message-dispatcher';
import { ON_MESSAGE } from './on-message.decorator';
import { HandlerSetupError } from './messaging-errors';

/** Finds every `@OnMessage` method among the application's providers. */
export function discoverHandlers(discovery: DiscoveryService, scanner: MetadataScanner): RegisteredHandler[] {
  const found: RegisteredHandler[] = [];
  for (const wrapper of discovery.getProviders()) {
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
    const prototype = Object.getPrototypeOf(instance) as object;
    for (const method of scanner.getAllMethodNames(prototype)) {
      const fn = instance[method];
      if (typeof fn !== 'function') continue;
      const contract = Reflect.getMetadata(ON_MESSAGE, fn) as ContractDefinition | undefined;
      if (contract) found.push({ contract, handle: (fn as MessageHandler).bind(instance) });
    }
  }
  return found;
}

/** A service handles exactly the contracts it consumes: each once, and nothing else. */
export function checkHandlers(service: string, consumed: ContractDefinition[], handlers: RegisteredHandler[]): void {
  const problems: string[] = [];
  const counts = new Map<string, number>();
  for (const h of handlers) counts.set(contractKey(h.contract), (counts.get(contractKey(h.contract)) ?? 0) + 1);
  const missing = consumed.filter((c) => !counts.has(contractKey(c))).map(contractKey);
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} (${n} handlers)`);
  const foreign = [...counts.keys()].filter((k) => !consumed.some((c) => contractKey(c) === k));
  if (missing.length) problems.push(`no handler for ${missing.join(', ')}`);
  if (duplicated.length) problems.push(`more than one handler for ${duplicated.join(', ')}`);
  if (foreign.length) problems.push(`handlers for contracts ${service} does not consume: ${foreign.join(', ')}`);
  if (problems.length) throw new HandlerSetupError(service, problems);
}
