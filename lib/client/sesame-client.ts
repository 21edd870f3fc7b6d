import { SESAME_PACKAGE_VERSION } from '../version.js';
import { ApprovalsResource } from './approvals.resource.js';
import { AxiosExchange } from './axios-exchange.js';
import { BrokerTransport } from './broker-transport.js';
import { NodeHttpExchange } from './node-http-exchange.js';
import { resolveClientOptions, type SesameClientOptions } from './sesame-client.options.js';

/**
 * The framework-agnostic Sesame client.
 *
 *   const client = new SesameClient();              // reads SESAME_API_KEY / SESAME_BROKER_URL
 *   const approval = await client.approvals.trigger({ action: 'db.delete', summary: 'Delete 1,204 rows' });
 *   const decided = await approval.wait({ timeout: 300_000 });
 */
export class SesameClient {
  readonly approvals: ApprovalsResource;
  /** The broker this client talks to (never includes credentials). */
  readonly baseUrl: string;
  readonly #transport: BrokerTransport;

  constructor(options: SesameClientOptions = {}) {
    const resolved = resolveClientOptions(options);
    this.baseUrl = resolved.baseUrl;
    const settings = { ...resolved, userAgent: `nestjs-sesame/${SESAME_PACKAGE_VERSION}` };
    // One policy (retries, timeouts, abort, errors) whichever client makes the HTTP exchange.
    const exchange = resolved.httpClient ? new AxiosExchange(resolved.httpClient, settings) : new NodeHttpExchange(settings);
    this.#transport = new BrokerTransport(resolved, exchange);
    this.approvals = new ApprovalsResource(this.#transport, resolved.defaultTimeout);
  }

  /** Ends every request in flight and releases pooled keep-alive sockets (those of an `httpClient` stay its own). */
  close(): void {
    this.#transport.close();
  }
}
