import type { LocalBroker } from 'nestjs-sesame/testing';
import { GRAPHQL_PATH } from './graphql-path.js';
import type { SampleRedis } from './redis/sample-redis.js';
import type { RefundLimits } from './refunds/refund-limits.js';

/** The refund the banner suggests: above the default auto-approve threshold, so it waits for a human. */
const EXAMPLE_REFUND = { paymentId: 'pay_1002', amount: 7_500, currency: 'EUR', reason: 'Customer was charged twice' };

export interface SampleBannerInput {
  apiUrl: string;
  embeddedBroker: LocalBroker | null;
  /** The broker from the environment, when there is no embedded one. */
  brokerUrl: string | undefined;
  limits: RefundLimits;
  /** The Redis deferred payouts run on; null: the webhook flow. */
  redis: SampleRedis | null;
}

/** What the terminal shows once the sample listens: where everything is, which payout flow runs, and one request to try. */
export function sampleBanner({ apiUrl, embeddedBroker, brokerUrl, limits, redis }: SampleBannerInput): string {
  const lines = [
    '',
    'nestjs-sesame sample: a payments admin API whose risky routes wait for a human.',
    '',
    `  API:        ${apiUrl}`,
    `  GraphQL:    ${apiUrl}${GRAPHQL_PATH} (query payments, mutation refund)`,
  ];
  if (embeddedBroker) {
    lines.push(`  Broker:     ${embeddedBroker.url} (embedded local broker, in memory, no account needed)`);
    if (embeddedBroker.dashboardUrl) lines.push(`  Dashboard:  ${embeddedBroker.dashboardUrl}  <- open it to approve or deny`);
  } else {
    lines.push(`  Broker:     ${brokerUrl ?? 'https://getsesame.dev'} (from SESAME_API_KEY / SESAME_BROKER_URL)`);
  }
  const asks = EXAMPLE_REFUND.amount >= limits.autoApproveBelow && EXAMPLE_REFUND.amount <= limits.maxRefund;
  lines.push(
    `  Policy:     ${limits.describe()}`,
    redis
      ? `  Payouts:    deferred BullMQ jobs on Redis ${redis.label} (${redis.origin}): POST /payouts answers 202 with the job id, the job runs once approved`
      : '  Payouts:    webhook flow, no Redis. For deferred BullMQ payout jobs, set SESAME_SAMPLE_REDIS_URL=redis://host:port or put redis-server on PATH',
    '',
    asks ? 'Try it (the request waits until someone approves or denies it):' : 'Try it (with these SAMPLE_* limits the policy decides it at once):',
    `  curl -i -X POST ${apiUrl}/refunds -H 'content-type: application/json' -d '${JSON.stringify(EXAMPLE_REFUND)}'`,
    '',
    `Other routes: GET ${apiUrl}/ lists them all. Ctrl+C stops ${listed(['the app', embeddedBroker && 'the broker', redis?.origin === 'started by the sample' && 'redis-server'])}.`,
    '',
  );
  return lines.join('\n');
}

/** `the app`, `the app and the broker`, `the app, the broker and redis-server`. */
export function listed(items: (string | false | null | undefined)[]): string {
  const present = items.filter((item): item is string => typeof item === 'string');
  return present.length < 2 ? (present[0] ?? '') : `${present.slice(0, -1).join(', ')} and ${present.at(-1)}`;
}
