import { NotFoundError } from '../errors.js';
import type { WireApproval } from '../protocol/wire-approval.js';
import type { WireDecision } from '../protocol/wire-requests.js';
import { copyApproval } from './approval-copy.js';
import type { ApprovalRegistry, DecisionSource } from './approval-registry.js';
import { clip, errorMessage, type BrokerLog } from './broker-log.js';
import { HttpError } from './http-io.js';
import { ApprovalAlreadyDecidedError } from './local-broker.errors.js';
import type { LocalBrokerDecidePolicy, LocalBrokerDecision } from './local-broker.options.js';

/**
 * Every way a pending approval gets approved or denied: the programmatic API, the decision endpoint,
 * the dashboard and the `decide` policy. The first decision wins; the registry refuses later ones.
 */
export class ApprovalDecisions {
  constructor(
    private readonly registry: ApprovalRegistry,
    private readonly policy: LocalBrokerDecidePolicy | undefined,
    private readonly log: BrokerLog,
    private readonly stopped: () => boolean,
  ) {}

  /** The registry's own record once decided. Throws NotFoundError / ApprovalAlreadyDecidedError. */
  decide(id: string, decision: WireDecision, note: string | null, source: DecisionSource): WireApproval {
    return this.registry.decide(id, decision === 'approve' ? 'approved' : 'denied', { note, source });
  }

  /** decide() for HTTP callers: an unknown id is a 404, a decided one a 409. */
  decideForHttp(id: string, decision: WireDecision, note: string | null, source: 'http' | 'dashboard'): WireApproval {
    try {
      return this.decide(id, decision, note, source);
    } catch (error) {
      if (error instanceof NotFoundError) throw new HttpError(404, 'not_found', `Approval ${clip(id)} not found`);
      if (error instanceof ApprovalAlreadyDecidedError) throw new HttpError(409, 'already_decided', error.message);
      throw error;
    }
  }

  /**
   * Asks the `decide` policy about a just-created approval. A synchronous answer is applied at once
   * (before the 201 is sent), a Promise when it settles; a policy that throws leaves the approval pending.
   */
  runPolicy(approval: WireApproval): void {
    const policy = this.policy;
    if (!policy) return;
    let outcome: LocalBrokerDecision | Promise<LocalBrokerDecision>;
    try {
      outcome = policy(copyApproval(approval));
    } catch (error) {
      this.log(`decide policy threw for ${approval.id}, left pending: ${errorMessage(error)}`);
      return;
    }
    if (isThenable(outcome)) {
      Promise.resolve(outcome).then(
        (decision) => this.applyPolicyDecision(approval.id, decision),
        (error: unknown) => this.log(`decide policy rejected for ${approval.id}, left pending: ${errorMessage(error)}`),
      );
    } else {
      this.applyPolicyDecision(approval.id, outcome);
    }
  }

  private applyPolicyDecision(id: string, decision: LocalBrokerDecision): void {
    if (decision === undefined || this.stopped()) return;
    if (decision !== 'approve' && decision !== 'deny') {
      this.log(`decide policy returned ${JSON.stringify(decision)} for ${id}; expected 'approve', 'deny' or undefined`);
      return;
    }
    const approval = this.registry.get(id);
    if (approval?.status !== 'pending') return; // decided meanwhile: the first decision wins
    this.decide(id, decision, null, 'policy');
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
