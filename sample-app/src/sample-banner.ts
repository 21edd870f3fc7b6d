import type { LocalBroker } from 'nestjs-sesame/testing';
import { GRAPHQL_PATH } from './graphql-path.js';
import type { RefundLimits } from './refunds/refund-limits.js';

/** The refund the banner suggests: above the default auto-approve threshold, so it waits for a human. */
const EXAMPLE_REFUND = { paymentId: 'pay_1002', amount: 7_500, currency: 'EUR', reason: 'Customer was charged twice' };

/** What the terminal shows once the sample listens: where everything is, and one request to try. */
export function sampleBanner(apiUrl: string, embeddedBroker: LocalBroker | null, brokerUrl: string | undefined, limits: RefundLimits): string {
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
    '',
    asks ? 'Try it (the request waits until someone approves or denies it):' : 'Try it (with these SAMPLE_* limits the policy decides it at once):',
    `  curl -i -X POST ${apiUrl}/refunds -H 'content-type: application/json' -d '${JSON.stringify(EXAMPLE_REFUND)}'`,
    '',
    `Other routes: GET ${apiUrl}/ lists them all. Ctrl+C stops the app${embeddedBroker ? ' and the broker' : ''}.`,
    '',
  );
  return lines.join('\n');
}
