import { Logger } from '@nestjs/common';
import { LocalBroker } from 'nestjs-sesame/testing';

/**
 * With no broker configured, the sample runs the local broker in its own process: no account, no
 * setup, and a dashboard to play the approver. Approvals live in memory and end with the process.
 */
export async function startEmbeddedBroker(port: number, webhookSecret: string | undefined): Promise<LocalBroker> {
  const logger = new Logger('LocalBroker');
  try {
    return await LocalBroker.start({
      port,
      // Signed with the app's own secret when SESAME_WEBHOOK_SECRET is set; otherwise one is generated and handed to the app.
      webhookSecret: webhookSecret || undefined,
      logger: { log: (message) => logger.log(message.replace(/^\[sesame-local-broker\] /, '')) },
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') {
      throw new Error(`BROKER_PORT ${port} is already in use (is another broker running?): set BROKER_PORT=0 to pick a free port`, { cause: error });
    }
    throw error;
  }
}

/** The settings the app would read from the environment for any other broker. */
export function embeddedBrokerConfig(broker: LocalBroker): Record<string, string> {
  return {
    SESAME_API_KEY: broker.apiKey,
    SESAME_BROKER_URL: broker.url,
    SESAME_WEBHOOK_SECRET: broker.webhookSecrets[0],
    ...(broker.dashboardUrl ? { DASHBOARD_URL: broker.dashboardUrl } : {}),
  };
}
