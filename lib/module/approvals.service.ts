import { Injectable } from '@nestjs/common';
import type { Approval } from '../client/approval.js';
import type { TriggerApprovalInput, WaitOptions } from '../client/approval.types.js';
import { SesameClient } from '../client/sesame-client.js';

/** Trigger, read and wait for approvals from any provider: `client.approvals`, injectable. */
@Injectable()
export class ApprovalsService {
  constructor(private readonly client: SesameClient) {}

  trigger(input: TriggerApprovalInput, options?: { signal?: AbortSignal }): Promise<Approval> {
    return this.client.approvals.trigger(input, options);
  }

  get(id: string, options?: { signal?: AbortSignal }): Promise<Approval> {
    return this.client.approvals.get(id, options);
  }

  wait(id: string, options?: WaitOptions): Promise<Approval> {
    return this.client.approvals.wait(id, options);
  }
}
