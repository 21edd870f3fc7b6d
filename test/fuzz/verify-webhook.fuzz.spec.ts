import fc from 'fast-check';
import { verifyWebhook, WebhookVerificationError, type WebhookHeadersInput } from '../../lib/index.js';
import { tally } from '../chaos/gated-call-harness.js';
import {
  bodyParam,
  FUZZ_NOW_MS,
  FUZZ_TOLERANCE_MS,
  headersObject,
  mutatedCaseArb,
  objectHeaderValues,
  referenceVerdict,
  secretOf,
  validCaseArb,
  type Verdict,
  type WebhookCase,
} from './webhook-cases.js';

/**
 * verifyWebhook under generated and mutated webhooks: never accepts what the protocol's reference
 * reading refuses, never throws anything but WebhookVerificationError, and accepts every valid one.
 * `npm test` runs 8,000 mutated webhooks (about 24,000 inputs); `npm run test:fuzz` (SESAME_FUZZ_RUNS=100000) the full count.
 */
const RUNS = Number(process.env.SESAME_FUZZ_RUNS ?? 8_000);
const options = { now: FUZZ_NOW_MS, tolerance: FUZZ_TOLERANCE_MS };

interface Container {
  headers: WebhookHeadersInput;
  values: (name: string) => string[] | null;
}

/** The case's headers as a plain object, a fetch Headers, or a bare getter: the three shapes verifyWebhook reads. */
function containers(c: WebhookCase): Container[] {
  const object = headersObject(c);
  const list: Container[] = [{ headers: object as WebhookHeadersInput, values: objectHeaderValues(object) }];
  let fetchHeaders: Headers | undefined;
  try {
    fetchHeaders = new Headers();
    for (const [name, value] of c.headers) if (value !== undefined && value !== null) fetchHeaders.append(name, String(value));
  } catch {
    fetchHeaders = undefined; // a value fetch refuses (control characters): the object form still covers it
  }
  if (fetchHeaders) {
    const h = fetchHeaders;
    const values = (name: string) => {
      const v = h.get(name);
      return v === null ? [] : [v];
    };
    list.push({ headers: h, values }, { headers: { get: (name: string) => h.get(name) }, values });
  }
  return list;
}

interface Counts {
  inputs: number;
  accepted: number;
  codes: string[];
  mutations: string[];
}

/** Runs one input through verifyWebhook and the oracle; returns a failure description, or undefined. */
function judge(headers: WebhookHeadersInput, body: string | Buffer | Uint8Array, c: WebhookCase, expected: Verdict, counts: Counts): string | undefined {
  counts.inputs++;
  let result: ReturnType<typeof verifyWebhook>;
  try {
    result = verifyWebhook(headers, body, c.keys.map(secretOf), options);
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) return `threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`;
    counts.codes.push(error.code);
    return undefined;
  }
  counts.accepted++;
  if (!expected.valid) return `accepted an invalid webhook (mutations: ${c.mutations.join(', ')})`;
  const { decidedAt: _decidedAt, ...rest } = result;
  expect(rest).toEqual(expected.payload);
  return undefined;
}

function describeCase(c: WebhookCase): string {
  return JSON.stringify({ headers: c.headers, body: c.body.toString('base64'), bodyAs: c.bodyAs, mutations: c.mutations });
}

describe(`verifyWebhook fuzzing (${RUNS} mutated webhooks)`, () => {
  it('never accepts an invalid webhook, and only ever throws WebhookVerificationError', () => {
    const counts: Counts = { inputs: 0, accepted: 0, codes: [], mutations: [] };
    fc.assert(
      fc.property(mutatedCaseArb, (c) => {
        counts.mutations.push(...c.mutations);
        for (const { headers, values } of containers(c)) {
          const body = bodyParam(c);
          const failure = judge(headers, body, c, referenceVerdict(values, typeof body === 'string' ? body : c.body, c.keys), counts);
          if (failure) throw new Error(`${failure}\n${describeCase(c)}`);
        }
      }),
      { numRuns: RUNS },
    );
    console.info(
      `verifyWebhook fuzz: ${counts.inputs} inputs from ${RUNS} mutated webhooks; accepted ${counts.accepted} (each checked valid by the reference), ` +
        `rejected ${counts.inputs - counts.accepted} with WebhookVerificationError: ${JSON.stringify(tally(counts.codes))}; mutations applied: ${JSON.stringify(tally(counts.mutations))}`,
    );
    expect(counts.inputs).toBeGreaterThanOrEqual(RUNS);
    // Some mutations keep a webhook valid (recased names, repeated identical headers): the oracle must have seen both sides.
    expect(counts.accepted).toBeGreaterThan(0);
    expect(counts.inputs - counts.accepted).toBeGreaterThan(0);
  });

  it('accepts every valid webhook, in every header shape and body encoding', () => {
    let inputs = 0;
    fc.assert(
      fc.property(validCaseArb, (c) => {
        for (const { headers, values } of containers(c)) {
          const body = bodyParam(c);
          const expected = referenceVerdict(values, typeof body === 'string' ? body : c.body, c.keys);
          expect(expected.valid).toBe(true);
          const { decidedAt: _decidedAt, ...payload } = verifyWebhook(headers, body, c.keys.map(secretOf), options);
          expect(payload).toEqual(expected.payload);
          inputs++;
        }
      }),
      { numRuns: Math.max(1_000, Math.round(RUNS / 10)) },
    );
    console.info(`verifyWebhook fuzz: ${inputs} valid inputs, all accepted`);
  });
});
