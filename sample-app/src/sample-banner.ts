import type { LocalBroker } from 'nestjs-sesame/testing';

/** What the terminal shows once the sample listens: where everything is, and one request to try. */
export function sampleBanner(apiUrl: string, embeddedBroker: LocalBroker | null, brokerUrl: string | undefined): string {
  const refund = JSON.stringify({ paymentId: 'pay_1001', amount: 2500, currency: 'USD', reason: 'Customer was charged twice' });
  const lines = ['', 'nestjs-sesame sample: a payments admin API whose risky routes wait for a human.', '', `  API:        ${apiUrl}`];
  if (embeddedBroker) {
    lines.push(`  Broker:     ${embeddedBroker.url} (embedded local broker, in memory, no account needed)`);
    if (embeddedBroker.dashboardUrl) lines.push(`  Dashboard:  ${embeddedBroker.dashboardUrl}  <- open it to approve or deny`);
  } else {
    lines.push(`  Broker:     ${brokerUrl ?? 'https://getsesame.dev'} (from SESAME_API_KEY / SESAME_BROKER_URL)`);
  }
  lines.push(
    '',
    'Try it (the request waits until someone approves or denies it):',
    `  curl -i -X POST ${apiUrl}/refunds -H 'content-type: application/json' -d '${refund}'`,
    '',
    `Other routes: GET ${apiUrl}/ lists them all. Ctrl+C stops the app${embeddedBroker ? ' and the broker' : ''}.`,
    '',
  );
  return lines.join('\n');
}
