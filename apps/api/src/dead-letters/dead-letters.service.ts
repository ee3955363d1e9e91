import { Injectable } from '@nestjs/common';
import { DeadLetter } from '@island/catalog';
import { ContractDefinition, CONTRACTS, ContractViolationError, parsePayload } from '@island/contracts';
import { MessagePublisher } from '@island/messaging';
import { Caller } from '../auth/caller';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';

/** The admin's view of messages that failed for good, and re-sending one (after fixing what made it fail). */
@Injectable()
export class DeadLettersService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly publisher: MessagePublisher,
  ) {}

  list(caller: Caller, o: { pending: boolean }): Promise<DeadLetter[]> {
    this.assertAdmin(caller);
    return this.uow.read((catalog) => catalog.deadLetters.list({ pending: o.pending, limit: 500 }));
  }

  /**
   * Sends the message again, as a first attempt, to where it was going; it must still match its contract.
   * For events the API gave up on (e.g. its database was down) and housekeeping jobs: a job whose failure
   * ended an operation is refused (that operation is over; the user starts it again).
   */
  async retry(caller: Caller, id: string): Promise<DeadLetter> {
    this.assertAdmin(caller);
    if (!/^\d{1,18}$/.test(id)) throw new NotFoundError('dead-letter', id);
    return this.uow.run(async ({ catalog }) => {
      const letter = await catalog.deadLetters.lock(id);
      if (!letter) throw new NotFoundError('dead-letter', id);
      if (letter.retriedAt) throw new ConflictError(`dead letter ${id} was re-sent at ${letter.retriedAt.toISOString()}`);
      const contract: ContractDefinition | undefined = CONTRACTS.find((c) => c.name === letter.contract && c.version === letter.version);
      if (!contract) throw new ConflictError(`dead letter ${id} is a ${letter.contract} v${letter.version}, which this island does not send`);
      if (contract.onFailure?.ends) {
        throw new ConflictError(
          `dead letter ${id} is a ${contract.name} job whose failure ended its ${contract.onFailure.ends}; start that again instead (e.g. attach the volume again)`,
        );
      }
      let payload: object;
      try {
        payload = parsePayload(contract, letter.payload);
      } catch (error) {
        if (error instanceof ContractViolationError) throw new ConflictError(`dead letter ${id} cannot be re-sent: ${error.message}`);
        throw error;
      }
      // published before the mark commits: a crash in between re-sends it once more, which handlers tolerate
      await this.publisher.publishRaw(contract.routingKey(payload), contract.name, contract.version, payload);
      await catalog.deadLetters.markRetried(id);
      return { ...letter, retriedAt: new Date() };
    });
  }

  private assertAdmin(caller: Caller): void {
    if (!caller.admin) throw new ForbiddenError('dead letters are for the admin');
  }
}
