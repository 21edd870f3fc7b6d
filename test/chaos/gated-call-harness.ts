import http from 'node:http';
import { ApprovalDenied, ApprovalError } from '../../lib/index.js';
import type { LocalBroker, WireApproval } from '../../lib/testing/index.js';
import type { ChaosApp } from './chaos-app.js';
import type { SeededRandom } from '../support/seeded-random.js';

export type Via = 'method' | 'route';

/** How one gated call ended, as its caller saw it. */
export interface CallOutcome {
  callId: string;
  via: Via;
  /** The method resolved / the route answered 2xx. */
  succeeded: boolean;
  /** `resolved`, an error class name (`ApprovalDenied:denied`), or `HTTP 403 approval_denied`. */
  label: string;
  typed: boolean;
  /** The error message, when there was one (checked for secrets, quoted in violations). */
  detail?: string;
  /** The approval a denial named (ApprovalDenied.approvalId, or `approvalId` in a 403 body). */
  approvalId?: string;
}

export type Decision = 'approve' | 'deny' | 'expire';

/**
 * Plays the human: decides each approval a broker creates at a random moment, at random.
 * Every timer it sets is cleared by stop(), so it leaves nothing behind.
 */
export class RandomDecider {
  readonly decided = new Map<Decision, number>();
  decisionErrors = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly detach: (() => void)[] = [];

  constructor(
    private readonly random: SeededRandom,
    private readonly maxDelayMs: number,
    private readonly weights: readonly (readonly [number, Decision])[] = [
      [0.5, 'approve'],
      [0.35, 'deny'],
      [0.15, 'expire'],
    ],
  ) {}

  attach(broker: LocalBroker): void {
    const onCreated = (approval: WireApproval) => {
      const decision = this.random.pick(this.weights);
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          const act = decision === 'approve' ? broker.approve(approval.id) : decision === 'deny' ? broker.deny(approval.id) : broker.expire(approval.id);
          act.then(
            () => this.decided.set(decision, (this.decided.get(decision) ?? 0) + 1),
            () => this.decisionErrors++, // broker stopped (lost state) or already decided
          );
        },
        this.random.int(0, this.maxDelayMs),
      );
      this.timers.add(timer);
    };
    broker.on('approval.created', onCreated);
    this.detach.push(() => broker.off('approval.created', onCreated));
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const detach of this.detach.splice(0)) detach();
  }
}

/** Starts `count` gated calls at once, a share of them through the HTTP route, the rest on the provider method. */
export function startCalls(app: ChaosApp, prefix: string, count: number, routeShare: number, random: SeededRandom, agent: http.Agent): Promise<CallOutcome>[] {
  const calls: Promise<CallOutcome>[] = [];
  for (let i = 0; i < count; i++) {
    const callId = `${prefix}-${i}`;
    calls.push(random.next() < routeShare ? callRoute(app.url, callId, agent) : callMethod(app, callId));
  }
  return calls;
}

async function callMethod(app: ChaosApp, callId: string): Promise<CallOutcome> {
  try {
    const result = await app.transfers.transfer(callId);
    return { callId, via: 'method', succeeded: result === callId, label: 'resolved', typed: true };
  } catch (error) {
    const name = error instanceof Error ? error.constructor.name : typeof error;
    const label = error instanceof ApprovalDenied ? `${name}:${error.status}` : name;
    return {
      callId,
      via: 'method',
      succeeded: false,
      label,
      typed: error instanceof ApprovalError,
      detail: error instanceof Error ? error.message : String(error),
      approvalId: error instanceof ApprovalDenied ? error.approvalId : undefined,
    };
  }
}

function callRoute(baseUrl: string, callId: string, agent: http.Agent): Promise<CallOutcome> {
  return new Promise((resolve) => {
    const req = http.request(`${baseUrl}/transfers/${callId}`, { method: 'POST', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let parsed: { code?: string; approvalId?: string } = { code: 'non-json' };
        try {
          parsed = JSON.parse(text) as { code?: string; approvalId?: string };
        } catch {
          // keep 'non-json'
        }
        const { code = '', approvalId } = parsed;
        const succeeded = status >= 200 && status < 300;
        // Typed: an approval outcome the interceptor mapped (it always carries a code), not a bare 500.
        resolve({
          callId,
          via: 'route',
          succeeded,
          label: succeeded ? `HTTP ${status}` : `HTTP ${status} ${code}`,
          typed: succeeded || code.startsWith('approval_'),
          detail: succeeded ? undefined : text,
          approvalId,
        });
      });
      res.on('error', () => resolve({ callId, via: 'route', succeeded: false, label: 'response error', typed: false }));
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ callId, via: 'route', succeeded: false, label: `request error ${error.code ?? error.message}`, typed: false }),
    );
    req.end();
  });
}

export interface InvariantInput {
  outcomes: readonly CallOutcome[];
  runs: ReadonlyMap<string, number>;
  /** Every approval every broker recorded (for a broker that lost its state: its records just before). */
  approvals: readonly WireApproval[];
  /** The broker kept its state throughout: every approved call must then have run. */
  stateKept: boolean;
  /** Error labels acceptable for a call that did not run, besides a denial. */
  allowedFailures: readonly string[];
}

export interface InvariantResult {
  violations: string[];
  /**
   * Approvals no caller followed: a trigger retried after the client gave up on it reached the broker
   * after the call's first approval had expired, and the protocol (dedup only while unexpired) made a
   * second one. Nothing ran for them; they are counted, not violations.
   */
  orphanApprovals: number;
}

/** Checks the safety invariants; one readable line per breach (none: all held). */
export function checkInvariants({ outcomes, runs, approvals, stateKept, allowedFailures }: InvariantInput): InvariantResult {
  const violations: string[] = [];
  let orphanApprovals = 0;
  const byId = new Map(approvals.map((a) => [a.id, a]));
  const byCall = new Map<string, WireApproval[]>();
  for (const approval of [...approvals].sort((a, b) => a.created_at.localeCompare(b.created_at))) {
    const list = byCall.get(callIdOf(approval)) ?? [];
    list.push(approval);
    byCall.set(callIdOf(approval), list);
  }
  const callIds = new Set(outcomes.map((o) => o.callId));
  for (const key of byCall.keys()) if (!callIds.has(key)) violations.push(`approval for call ${key} belongs to no call`);
  for (const [callId, count] of runs) if (!callIds.has(callId)) violations.push(`a body ran ${count} time(s) for unknown call ${callId}`);

  for (const outcome of outcomes) {
    const { callId } = outcome;
    const ran = runs.get(callId) ?? 0;
    const mine = byCall.get(callId) ?? [];
    const approved = mine.filter((a) => a.status === 'approved');
    const why = `${outcome.label}${outcome.detail ? `: ${outcome.detail.slice(0, 300)}` : ''}`;
    if (ran > 1) violations.push(`${callId}: body ran ${ran} times`);
    if (ran > 0 && approved.length === 0) violations.push(`${callId}: body ran without an approved decision (${mine.map((a) => a.status).join(', ') || 'no approval'})`);
    if (outcome.succeeded !== ran > 0) violations.push(`${callId}: caller saw ${why} but the body ran ${ran} time(s)`);
    if (!outcome.typed) violations.push(`${callId}: untyped outcome ${why}`);
    if (stateKept && mine.length === 0) violations.push(`${callId}: no approval on the broker`);
    if (outcome.succeeded) continue;

    const denied = outcome.approvalId === undefined ? undefined : byId.get(outcome.approvalId);
    if (denied) {
      // A denial must name one of this call's approvals, with the status the caller was told.
      const expected = outcome.via === 'method' ? `ApprovalDenied:${denied.status}` : `HTTP 403 approval_${denied.status}`;
      if (callIdOf(denied) !== callId || outcome.label !== expected)
        violations.push(`${callId}: denial names ${denied.id} (${denied.status}, call ${callIdOf(denied)}) but the caller saw ${why}`);
    } else if (!allowedFailures.includes(outcome.label)) {
      violations.push(`${callId}: unexpected outcome ${why} (approvals: ${mine.map((a) => a.status).join(', ') || 'none'})`);
    }
    if (stateKept) {
      for (const approval of approved) {
        const orphan = denied?.status === 'expired' && denied.decided_at !== null && approval.created_at >= denied.decided_at;
        if (orphan) orphanApprovals++;
        else violations.push(`${callId}: approval ${approval.id} approved but the body ran ${ran} time(s) (${why})`);
      }
    }
  }
  return { violations, orphanApprovals };
}

/** Counts of a list of labels, sorted by label: what the report prints. */
export function tally(labels: Iterable<string>): Record<string, number> {
  const counts = new Map<string, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

/** The call an approval was asked for: its summary names it ("Transfer for <callId>"); the broker's dedup key is the gate's own. */
export function callIdOf(approval: WireApproval): string {
  return approval.summary.replace(/^(Route )?[Tt]ransfer for /, '');
}
