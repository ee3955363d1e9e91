import { ImageGrow, ImageGrowJob, SnapshotTakeJob } from '@island/contracts';
import { MessageContext } from './message-context';
import { ON_MESSAGE, OnMessage } from './on-message.decorator';

/**
 * Handlers that compile: the contract's payload or a supertype of it, with or without the delivery's context.
 * `tsc -p libs/messaging/tsconfig.json` checks this file: every `@ts-expect-error` below must be an error,
 * or the directive itself is one ("unused '@ts-expect-error' directive").
 */
class Handlers {
  @OnMessage(ImageGrow)
  exact(_payload: ImageGrowJob): void {
    return undefined;
  }

  @OnMessage(ImageGrow)
  async withContext(_payload: ImageGrowJob, _context: MessageContext): Promise<void> {
    return undefined;
  }

  @OnMessage(ImageGrow)
  optionalContext(_payload: ImageGrowJob, _context?: MessageContext): void {
    return undefined;
  }

  @OnMessage(ImageGrow)
  supertype(_payload: { volumeId: string; sizeBytes: number }): void {
    return undefined;
  }

  @OnMessage(ImageGrow)
  noArguments(): void {
    return undefined;
  }
}

/** Handlers that must not compile: each `@OnMessage` is refused by the type checker. */
class Mismatched {
  // @ts-expect-error the payload of another contract: image.grow does not deliver a SnapshotTakeJob
  @OnMessage(ImageGrow)
  otherContract(_payload: SnapshotTakeJob): void {
    return undefined;
  }

  // @ts-expect-error a field of the wrong type: image.grow's sizeBytes is a number
  @OnMessage(ImageGrow)
  wrongField(_payload: { volumeId: string; sizeBytes: string }): void {
    return undefined;
  }

  // @ts-expect-error a subtype asks for more than the contract guarantees
  @OnMessage(ImageGrow)
  subtype(_payload: ImageGrowJob & { extra: boolean }): void {
    return undefined;
  }

  // @ts-expect-error the second argument is the delivery's MessageContext, nothing else
  @OnMessage(ImageGrow)
  wrongContext(_payload: ImageGrowJob, _attempt: number): void {
    return undefined;
  }

  // @ts-expect-error a third argument is never passed
  @OnMessage(ImageGrow)
  tooManyArguments(_payload: ImageGrowJob, _context: MessageContext, _more: string): void {
    return undefined;
  }

  // @ts-expect-error a handler's result is awaited and dropped: it returns nothing
  @OnMessage(ImageGrow)
  returnsAValue(_payload: ImageGrowJob): Promise<number> {
    return Promise.resolve(1);
  }
}

describe('@OnMessage', () => {
  it('records the contract on the handler method, for discovery', () => {
    expect(Reflect.getMetadata(ON_MESSAGE, Handlers.prototype.exact)).toBe(ImageGrow);
    expect(Reflect.getMetadata(ON_MESSAGE, Handlers.prototype.withContext)).toBe(ImageGrow);
    expect(Reflect.getMetadata(ON_MESSAGE, Mismatched.prototype.otherContract)).toBe(ImageGrow);
  });
});
