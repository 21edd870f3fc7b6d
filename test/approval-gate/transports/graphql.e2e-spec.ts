import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { LocalBroker } from '../../../lib/testing/index.js';
import { ChildAppHost } from '../../support/child-app-host.js';
import { GraphQLApps, type GraphQLAppState, type GraphQLDriverName } from './graphql-fixtures.js';

const API_KEY = 'sk_test_SECRET_graphql_4d7a';

/** Where a driver's apps run; the broker and every client stay in this process. A fresh app per test. */
interface AppHost {
  /** What the host process printed (the in-process host: nothing of its own; logs come with the state). */
  readonly output: string;
  startApp(brokerUrl: string): Promise<string>;
  state(): Promise<GraphQLAppState>;
  /** Closes the app; resolves with its final state. */
  stopApp(): Promise<GraphQLAppState>;
  close(): Promise<void>;
}

class InProcessHost implements AppHost {
  readonly output = '';
  private readonly apps: GraphQLApps;
  constructor(driver: GraphQLDriverName) {
    this.apps = new GraphQLApps(driver);
  }
  startApp(brokerUrl: string): Promise<string> {
    return this.apps.start(brokerUrl, API_KEY);
  }
  async state(): Promise<GraphQLAppState> {
    return this.apps.state();
  }
  stopApp(): Promise<GraphQLAppState> {
    return this.apps.stop();
  }
  async close(): Promise<void> {}
}

/** The apps in a Node process of their own (graphql-fixtures.ts says why), asked over IPC. */
class ChildProcessHost implements AppHost {
  private constructor(private readonly host: ChildAppHost<GraphQLAppState>) {}

  static async start(driver: GraphQLDriverName): Promise<ChildProcessHost> {
    return new ChildProcessHost(await ChildAppHost.start<GraphQLAppState>('GraphQL app host', 'test/approval-gate/transports/graphql-fixtures.ts', [driver]));
  }

  get output(): string {
    return this.host.output;
  }
  startApp(brokerUrl: string): Promise<string> {
    return this.host.startApp(brokerUrl, API_KEY);
  }
  state(): Promise<GraphQLAppState> {
    return this.host.state();
  }
  stopApp(): Promise<GraphQLAppState> {
    return this.host.stopApp();
  }
  close(): Promise<void> {
    return this.host.close();
  }
}

interface GraphQLAnswer {
  status: number;
  text: string;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[] };
}

const DRIVERS: { name: string; host: () => Promise<AppHost> }[] = [
  { name: 'Apollo on Express', host: async () => new InProcessHost('apollo') },
  { name: 'Mercurius on Fastify, in a child process', host: () => ChildProcessHost.start('mercurius') },
];

describe.each(DRIVERS)('@RequireApproval on GraphQL resolvers ($name)', ({ host: startHost }) => {
  let host: AppHost;
  let broker: LocalBroker;
  let url: string;
  const answers: GraphQLAnswer[] = [];

  beforeAll(async () => {
    host = await startHost();
  });
  afterAll(async () => {
    if (!host) return;
    await host.close();
    expect(host.output).not.toContain(API_KEY);
  });
  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    url = await host.startApp(broker.url);
    answers.length = 0;
  });
  afterEach(async () => {
    const { logs } = await host.stopApp();
    await broker.stop();
    // No approval outcome is an unexplained server error, and the API key reaches no answer and no log line.
    for (const answer of answers) {
      expect(answer.text).not.toContain('INTERNAL_SERVER_ERROR');
      expect(answer.text).not.toContain(API_KEY);
    }
    for (const line of logs) expect(line).not.toContain(API_KEY);
  });

  const ran = async () => (await host.state()).ran;
  const gql = async (query: string, headers: Record<string, string> = {}, signal?: AbortSignal, variables?: Record<string, unknown>): Promise<GraphQLAnswer> => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
      signal,
    });
    const text = await res.text();
    const answer = { status: res.status, text, body: JSON.parse(text) as GraphQLAnswer['body'] };
    answers.push(answer);
    return answer;
  };
  const pending = (action: string) => broker.waitForApproval((a) => a.action === action && a.status === 'pending');

  it('approved: the mutation answers its data and the resolver ran once', async () => {
    const res = gql('mutation { refund(amount: 10) }');
    const approval = await pending('payments.refund');
    expect(approval).toMatchObject({ summary: 'Refund 10', context: { amount: 10 } });
    await broker.approve(approval.id);

    expect(await res).toEqual({ status: 200, text: expect.any(String), body: { data: { refund: 10 } } });
    expect(await ran()).toEqual(['refund:10']);
  });

  it('denied: APPROVAL_DENIED with status denied, data null, and nothing ran', async () => {
    const res = gql('mutation { refund(amount: 11) }');
    const approval = await pending('payments.refund');
    await broker.deny(approval.id);

    const { status, body } = await res;
    expect(status).toBe(200);
    expect(body).toEqual({
      data: null,
      errors: [
        {
          message: `Approval ${approval.id} was denied`,
          locations: [{ line: 1, column: 12 }],
          path: ['refund'],
          extensions: { code: 'APPROVAL_DENIED', sesameCode: 'approval_denied', approvalId: approval.id, status: 'denied' },
        },
      ],
    });
    expect(await ran()).toEqual([]);
  });

  it('expired: APPROVAL_DENIED with status expired', async () => {
    const res = gql('mutation { refund(amount: 12) }');
    const approval = await pending('payments.refund');
    await broker.expire(approval.id);

    const { status, body } = await res;
    expect(status).toBe(200);
    expect(body.data).toBeNull();
    expect(body.errors).toEqual([
      expect.objectContaining({
        path: ['refund'],
        extensions: { code: 'APPROVAL_DENIED', sesameCode: 'approval_expired', approvalId: approval.id, status: 'expired' },
      }),
    ]);
    expect(await ran()).toEqual([]);
  });

  it('no decision within the timeout: APPROVAL_TIMEOUT, the approval still pending, and nothing ran', async () => {
    const { status, body } = await gql('mutation { quickRefund(amount: 13) }');
    const [approval] = broker.list();
    expect(status).toBe(200);
    expect(body.data).toBeNull();
    expect(body.errors).toEqual([
      expect.objectContaining({
        path: ['quickRefund'],
        extensions: { code: 'APPROVAL_TIMEOUT', sesameCode: 'approval_timeout', approvalId: approval.id, status: 'pending' },
      }),
    ]);
    expect(await ran()).toEqual([]);
  });

  it('broker down: APPROVAL_UNAVAILABLE with a message that names no cause, and nothing ran', async () => {
    await broker.stop();
    const { status, body } = await gql('mutation { refund(amount: 14) }');
    expect(status).toBe(200);
    expect(body).toEqual({
      data: null,
      errors: [
        {
          message: 'The approval service is unavailable; nothing was run. Retry later.',
          locations: [{ line: 1, column: 12 }],
          path: ['refund'],
          extensions: { code: 'APPROVAL_UNAVAILABLE', sesameCode: 'approval_broker_unavailable' },
        },
      ],
    });
    expect(await ran()).toEqual([]);
  });

  it('policy allow: runs at once with no approval asked; the policy saw the GraphQL call and its requester', async () => {
    const { status, body } = await gql('mutation { refund(amount: 3) }', { 'x-user': 'alice' });
    expect({ status, body }).toEqual({ status: 200, body: { data: { refund: 3 } } });
    expect(await ran()).toEqual(['refund:3']);
    expect(broker.list()).toEqual([]);
    expect((await host.state()).policyCalls).toEqual([{ action: 'payments.refund', args: [3], requester: 'alice', transport: 'graphql' }]);
  });

  it('policy deny: APPROVAL_POLICY_DENIED with the reason; nothing asked or run', async () => {
    const { status, body } = await gql('mutation { refund(amount: 666) }');
    expect(status).toBe(200);
    expect(body).toEqual({
      data: null,
      errors: [
        {
          message: 'The approval policy refused this call; nothing was asked or run.',
          locations: [{ line: 1, column: 12 }],
          path: ['refund'],
          extensions: { code: 'APPROVAL_POLICY_DENIED', sesameCode: 'approval_policy_denied', reason: 'amount 666 is blocked' },
        },
      ],
    });
    expect(await ran()).toEqual([]);
    expect(broker.list()).toEqual([]);
  });

  it('when false: runs at once with no approval; when true asks', async () => {
    expect((await gql('mutation { conditionalRefund(amount: 20) }')).body).toEqual({ data: { conditionalRefund: 20 } });
    expect(await ran()).toEqual(['conditional:20']);
    expect(broker.list()).toEqual([]);

    const res = gql('mutation { conditionalRefund(amount: 200) }');
    await broker.approve((await pending('payments.conditional-refund')).id);
    expect((await res).body).toEqual({ data: { conditionalRefund: 200 } });
    expect(await ran()).toEqual(['conditional:20', 'conditional:200']);
  });

  it('a throwing when: APPROVAL_GATE_ERROR, nothing asked or run, the stack logged', async () => {
    const { status, body } = await gql('mutation { brokenRefund(amount: 21) }');
    expect(status).toBe(200);
    expect(body).toEqual({
      data: null,
      errors: [
        {
          message: 'The approval gate is misconfigured; nothing was run.',
          locations: [{ line: 1, column: 12 }],
          path: ['brokenRefund'],
          extensions: { code: 'APPROVAL_GATE_ERROR', sesameCode: 'approval_gate_error' },
        },
      ],
    });
    expect(await ran()).toEqual([]);
    expect(broker.list()).toEqual([]);
    expect((await host.state()).logs).toContainEqual(expect.stringContaining('when exploded'));
  });

  it('the client going away stops the wait: a later approval runs nothing, and the app keeps answering', async () => {
    const controller = new AbortController();
    const res = gql('mutation { refund(amount: 30) }', {}, controller.signal).catch((error: unknown) => error);
    const approval = await pending('payments.refund');
    await broker.waitForHeldWaits(1);
    controller.abort();
    expect(await res).toMatchObject({ name: 'AbortError' });
    await broker.waitForHeldWaits(0);
    await broker.approve(approval.id);

    // An ungated query on the same app is answered after the approval: the gate had its chance to (wrongly) run.
    expect((await gql('{ health }')).body).toEqual({ data: { health: 'ok' } });
    expect(await ran()).toEqual([]);
  });

  it('two gated mutations aliased in one operation: each gets its own approval and runs once', async () => {
    const res = gql('mutation { a: refund(amount: 60) b: refund(amount: 70) }');
    // Mutation fields run in series: b asks only once a has run.
    const first = await pending('payments.refund');
    expect(first.context).toEqual({ amount: 60 });
    await broker.approve(first.id);
    const second = await pending('payments.refund');
    expect(second.context).toEqual({ amount: 70 });
    await broker.approve(second.id);

    expect((await res).body).toEqual({ data: { a: 60, b: 70 } });
    expect(await ran()).toEqual(['refund:60', 'refund:70']);
    expect(broker.list()).toHaveLength(2);
  });

  it('a gated service method under an ungated resolver: approved it runs, denied it answers APPROVAL_DENIED (the app-wide filter)', async () => {
    const approvedRes = gql('mutation { purgeTable(table: "orders") }');
    await broker.approve((await broker.waitForApproval((a) => a.summary === 'Purge orders' && a.status === 'pending')).id);
    expect((await approvedRes).body).toEqual({ data: { purgeTable: 1 } });

    const deniedRes = gql('mutation { purgeTable(table: "users") }');
    const denied = await broker.waitForApproval((a) => a.summary === 'Purge users' && a.status === 'pending');
    await broker.deny(denied.id);
    const { status, body } = await deniedRes;
    expect(status).toBe(200);
    expect(body).toEqual({
      data: null,
      errors: [
        {
          message: `Approval ${denied.id} was denied`,
          locations: [{ line: 1, column: 12 }],
          path: ['purgeTable'],
          extensions: { code: 'APPROVAL_DENIED', sesameCode: 'approval_denied', approvalId: denied.id, status: 'denied' },
        },
      ],
    });
    expect(await ran()).toEqual(['purge:orders']);
  });

  it('query fields wait in parallel, each on its own approval: one approved, one denied, in one answer', async () => {
    const res = gql('{ csv: exportReport(format: "csv") pdf: exportReport(format: "pdf") }');
    const csv = await broker.waitForApproval((a) => a.summary === 'Export csv' && a.status === 'pending');
    const pdf = await broker.waitForApproval((a) => a.summary === 'Export pdf' && a.status === 'pending');
    await broker.waitForHeldWaits(2);
    await broker.deny(pdf.id);
    await broker.approve(csv.id);

    const { status, body } = await res;
    expect(status).toBe(200);
    expect(body.data).toEqual({ csv: 'exported csv', pdf: null });
    expect(body.errors).toEqual([
      expect.objectContaining({ path: ['pdf'], extensions: { code: 'APPROVAL_DENIED', sesameCode: 'approval_denied', approvalId: pdf.id, status: 'denied' } }),
    ]);
    expect(await ran()).toEqual(['export:csv']);
  });

  describe("mode 'async'", () => {
    const asyncRefund = (amount: number, headers: Record<string, string> = {}) => gql(`mutation { asyncRefund(amount: ${amount}) }`, headers);

    it('first call: APPROVAL_PENDING at once with the approval id and retryAfter in seconds; nothing runs', async () => {
      const { status, body } = await asyncRefund(40, { 'x-user': 'alice' });
      const [approval] = broker.list();
      expect(approval).toMatchObject({ action: 'payments.async-refund', status: 'pending' });
      expect(status).toBe(200);
      expect(body).toEqual({
        data: null,
        errors: [
          {
            message: 'Waiting for a human to approve. Repeat this operation with the Sesame-Approval-Id header after extensions.retryAfter seconds.',
            locations: [{ line: 1, column: 12 }],
            path: ['asyncRefund'],
            extensions: { code: 'APPROVAL_PENDING', sesameCode: 'approval_pending', approvalId: approval.id, status: 'pending', retryAfter: 3 },
          },
        ],
      });
      expect(await ran()).toEqual([]);
    });

    it('the full protocol: pending, approve, the repeat with Sesame-Approval-Id runs once, a second repeat is APPROVAL_ALREADY_USED', async () => {
      const alice = { 'x-user': 'alice' };
      const id = (await asyncRefund(41, alice)).body.errors![0].extensions!.approvalId as string;
      const header = { ...alice, 'sesame-approval-id': id };

      const stillPending = await asyncRefund(41, header);
      expect(stillPending.body.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'APPROVAL_PENDING', approvalId: id }) })]);
      expect(await ran()).toEqual([]);

      await broker.approve(id);
      expect(await asyncRefund(41, header)).toMatchObject({ status: 200, body: { data: { asyncRefund: 41 } } });
      expect(await ran()).toEqual(['async:41']);

      const again = await asyncRefund(41, header);
      expect(again.status).toBe(200);
      expect(again.body.data).toBeNull();
      expect(again.body.errors).toEqual([
        expect.objectContaining({ path: ['asyncRefund'], extensions: { code: 'APPROVAL_ALREADY_USED', sesameCode: 'approval_already_used', approvalId: id } }),
      ]);
      expect(await ran()).toEqual(['async:41']);
      expect(broker.list()).toHaveLength(1);
    });

    it('bound to the user and the arguments: another user or other arguments get APPROVAL_MISMATCH, and the approval stays usable', async () => {
      const id = (await asyncRefund(42, { 'x-user': 'alice' })).body.errors![0].extensions!.approvalId as string;
      await broker.approve(id);

      const mismatch = (answer: GraphQLAnswer) => {
        expect(answer.status).toBe(200);
        expect(answer.body.data).toBeNull();
        expect(answer.body.errors).toEqual([
          expect.objectContaining({ path: ['asyncRefund'], extensions: { code: 'APPROVAL_MISMATCH', sesameCode: 'approval_mismatch', approvalId: id } }),
        ]);
      };
      mismatch(await asyncRefund(42, { 'x-user': 'bob', 'sesame-approval-id': id }));
      mismatch(await asyncRefund(42, { 'sesame-approval-id': id }));
      mismatch(await asyncRefund(4200, { 'x-user': 'alice', 'sesame-approval-id': id }));
      expect(await ran()).toEqual([]);

      expect((await asyncRefund(42, { 'x-user': 'alice', 'sesame-approval-id': id })).body).toEqual({ data: { asyncRefund: 42 } });
      expect(await ran()).toEqual(['async:42']);
    });

    it('the same approved call twice in one operation runs once', async () => {
      const alice = { 'x-user': 'alice' };
      const id = (await asyncRefund(43, alice)).body.errors![0].extensions!.approvalId as string;
      await broker.approve(id);

      const { body } = await gql('mutation { a: asyncRefund(amount: 43) b: asyncRefund(amount: 43) }', { ...alice, 'sesame-approval-id': id });
      expect(body.data).toBeNull(); // b is non-null and failed: GraphQL nulls the whole result
      expect(body.errors).toEqual([expect.objectContaining({ path: ['b'], extensions: expect.objectContaining({ code: 'APPROVAL_ALREADY_USED', approvalId: id }) })]);
      expect(await ran()).toEqual(['async:43']);
    });

    it('an input object inline and the same one in variables are one call; other variables are another', async () => {
      const alice = { 'x-user': 'alice' };
      const inline = 'mutation { payout(input: { amount: 50, customerId: "cus_1" }) }';
      const withVariables = 'mutation Payout($input: PayoutInput!) { payout(input: $input) }';
      const id = (await gql(inline, alice)).body.errors![0].extensions!.approvalId as string;
      await broker.approve(id);
      const header = { ...alice, 'sesame-approval-id': id };

      const other = await gql(withVariables, header, undefined, { input: { amount: 50, customerId: 'cus_2' } });
      expect(other.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'APPROVAL_MISMATCH', sesameCode: 'approval_mismatch', approvalId: id } })]);
      expect(await ran()).toEqual([]);

      expect((await gql(withVariables, header, undefined, { input: { customerId: 'cus_1', amount: 50 } })).body).toEqual({ data: { payout: 50 } });
      expect(await ran()).toEqual(['payout:50:cus_1']);
    });

    it('the same approved query field twice in one operation, resolved in parallel, runs once', async () => {
      const alice = { 'x-user': 'alice' };
      const id = (await gql('{ asyncExport(format: "csv") }', alice)).body.errors![0].extensions!.approvalId as string;
      await broker.approve(id);

      const { body } = await gql('{ a: asyncExport(format: "csv") b: asyncExport(format: "csv") }', { ...alice, 'sesame-approval-id': id });
      expect(await ran()).toEqual(['async-export:csv']);
      // Which field wins is a race; the other is refused, whether the winner had finished (used) or not (in use).
      const [winner, loser] = body.data!.a === null ? ['b', 'a'] : ['a', 'b'];
      expect(body.data).toEqual({ [winner]: 'exported csv', [loser]: null });
      expect(body.errors).toEqual([
        expect.objectContaining({ path: [loser], extensions: expect.objectContaining({ code: expect.stringMatching(/^APPROVAL_(ALREADY_USED|IN_USE)$/), approvalId: id }) }),
      ]);
    });
  });
});
