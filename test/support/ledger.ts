import { Injectable } from '@nestjs/common';

/** What the gated code ran, in order: a provider the suites' handlers push to and the tests read. */
@Injectable()
export class Ledger<T = string> {
  readonly ran: T[] = [];
}
