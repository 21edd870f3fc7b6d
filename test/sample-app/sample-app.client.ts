import type { WireApproval, WireApprovalPage } from '../../lib/protocol/wire-approval.js';

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Sends a JSON request; the promise never rejects (a failed test must not leave an unhandled rejection behind). */
export function send(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer | { error: unknown }> {
  return fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(
    async (res) => {
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    (error: unknown) => ({ error }),
  );
}

export async function answer(pending: Promise<Answer | { error: unknown }>): Promise<Answer> {
  const result = await pending;
  if ('error' in result) throw result.error;
  return result;
}

/** GET /payouts/:jobId until the sample's payout job is in `state` (BullMQ marks it completed just after process() returned). */
export async function payoutJobIn(api: string, jobId: string, state: string, timeoutMs = 10_000): Promise<Answer['body']> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await answer(send('GET', `${api}/payouts/${jobId}`));
    if (job.status === 200 && job.body.state === state) return job.body;
    if (Date.now() > deadline) throw new Error(`payout job ${jobId} not ${state} within ${timeoutMs} ms: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The key the embedded broker accepts (LocalBroker's default). */
const BROKER_AUTH = { authorization: 'Bearer sk_test_local' };

/** The sample's embedded broker, through its protocol API: what exists on it, and a human's decision. */
export class SampleBroker {
  constructor(private readonly url: string) {}

  /** Every approval the broker holds, newest first. */
  async approvals(): Promise<WireApproval[]> {
    const page = await answer(send('GET', `${this.url}/v1/approvals?limit=500`, undefined, BROKER_AUTH));
    if (page.status !== 200) throw new Error(`GET /v1/approvals answered ${page.status}: ${JSON.stringify(page.body)}`);
    return (page.body as WireApprovalPage).approvals;
  }

  /** The pending approval showing `summary`, once a gated call has asked for it. */
  async waitForPending(summary: string, timeoutMs = 10_000): Promise<WireApproval> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = (await this.approvals()).find((a) => a.status === 'pending' && a.summary === summary);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`No pending approval "${summary}" on the broker within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async decide(id: string, decision: 'approve' | 'deny'): Promise<void> {
    const decided = await answer(send('POST', `${this.url}/v1/approvals/${id}/decision`, { decision }, BROKER_AUTH));
    if (decided.status !== 200) throw new Error(`Deciding ${id} answered ${decided.status}: ${JSON.stringify(decided.body)}`);
  }
}
