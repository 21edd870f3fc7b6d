import { Controller, Injectable, Param, Post, type INestApplication } from '@nestjs/common';
import { RequireApproval, SesameModule, type SesameModuleOptions } from '../../lib/index.js';
import { startApp, type CapturingLogger } from '../support/nest-apps.js';

/** Counts every run of a gated body, by call id: the one thing the invariants are about. */
@Injectable()
export class RunLedger {
  readonly runs = new Map<string, number>();

  record(callId: string): void {
    this.runs.set(callId, (this.runs.get(callId) ?? 0) + 1);
  }
}

/** A gated provider method; the call id is its dedup key and is named in the summary, so each call's approval can be found on the broker. */
@Injectable()
export class TransfersService {
  constructor(private readonly ledger: RunLedger) {}

  @RequireApproval('chaos.transfer', { summary: (callId: string) => `Transfer for ${callId}`, dedupKey: (callId: string) => callId })
  async transfer(callId: string): Promise<string> {
    this.ledger.record(callId);
    return callId;
  }
}

/** The same behind a gated route. */
@Controller('transfers')
export class TransfersController {
  constructor(private readonly ledger: RunLedger) {}

  @Post(':callId')
  @RequireApproval('chaos.route', { summary: (callId: string) => `Route transfer for ${callId}`, dedupKey: (callId: string) => callId })
  transfer(@Param('callId') callId: string): { ran: string } {
    this.ledger.record(callId);
    return { ran: callId };
  }
}

export interface ChaosApp {
  app: INestApplication;
  url: string;
  ledger: RunLedger;
  transfers: TransfersService;
}

/** A real Nest app on Express, listening on loopback, gated through `options.baseUrl`. */
export async function startChaosApp(options: SesameModuleOptions, logger: CapturingLogger): Promise<ChaosApp> {
  const { app, url } = await startApp(
    'express',
    { imports: [SesameModule.forRoot({ env: {}, ...options })], controllers: [TransfersController], providers: [RunLedger, TransfersService] },
    undefined,
    { logger, rawBody: false },
  );
  return { app, url, ledger: app.get(RunLedger), transfers: app.get(TransfersService) };
}
