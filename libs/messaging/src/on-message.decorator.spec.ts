import { IsInt, IsString } from 'class-validator';
import { defineContract, routes } from '@island/contracts';
import { MessageContext } from './message-context';
import { ON_MESSAGE, OnMessage } from './on-message.decorator';

class Ping {
  @IsString() text!: string;
  @IsInt() n!: number;
}
const PingV1 = defineContract({ name: 'TestPing', version: 1, kind: 'event', consumer: 'api', schema: Ping, routingKey: () => routes.event('TestPing', 1) });

/** Another contract's payload: it shares no field with Ping. */
class VolumeJob {
  @IsString() volumeId!: string;
}

/**
 * Handlers that compile: the contract's payload or a supertype of it, with or without the delivery's context.
 * `tsc -p libs/messaging/tsconfig.json` checks this file: every `@ts-expect-error` below must be an error,
 * or the directive itself is one ("unused '@ts-expect-error' directive").
 */
class Handlers {
  @OnMessage(PingV1)
  exact(_payload: Ping): void {
    return undefined;
  }

  @OnMessage(PingV1)
  async withContext(_payload: Ping, _context: MessageContext): Promise<void> {
    return undefined;
  }

  @OnMessage(PingV1)
  optionalContext(_payload: Ping, _context?: MessageContext): void {
    return undefined;
  }

  @OnMessage(PingV1)
  supertype(_payload: { text: string }): void {
    return undefined;
  }

  @OnMessage(PingV1)
  noArguments(): void {
    return undefined;
  }
}

/** Handlers that must not compile: each `@OnMessage` is refused by the type checker. */
class Mismatched {
  // @ts-expect-error the payload of another contract: TestPing does not deliver a VolumeJob
  @OnMessage(PingV1)
  otherContract(_payload: VolumeJob): void {
    return undefined;
  }

  // @ts-expect-error a field of the wrong type: TestPing's n is a number
  @OnMessage(PingV1)
  wrongField(_payload: { text: string; n: string }): void {
    return undefined;
  }

  // @ts-expect-error a subtype asks for more than the contract guarantees
  @OnMessage(PingV1)
  subtype(_payload: Ping & { extra: boolean }): void {
    return undefined;
  }

  // @ts-expect-error the second argument is the delivery's MessageContext, nothing else
  @OnMessage(PingV1)
  wrongContext(_payload: Ping, _attempt: number): void {
    return undefined;
  }

  // @ts-expect-error a third argument is never passed
  @OnMessage(PingV1)
  tooManyArguments(_payload: Ping, _context: MessageContext, _more: string): void {
    return undefined;
  }

  // @ts-expect-error a handler's result is awaited and dropped: it returns nothing
  @OnMessage(PingV1)
  returnsAValue(_payload: Ping): Promise<number> {
    return Promise.resolve(1);
  }
}

describe('@OnMessage', () => {
  it('records the contract on the handler method, for discovery', () => {
    expect(Reflect.getMetadata(ON_MESSAGE, Handlers.prototype.exact)).toBe(PingV1);
    expect(Reflect.getMetadata(ON_MESSAGE, Handlers.prototype.withContext)).toBe(PingV1);
    expect(Reflect.getMetadata(ON_MESSAGE, Mismatched.prototype.otherContract)).toBe(PingV1);
  });
});
