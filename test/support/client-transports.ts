import axios from 'axios';
import type { SesameClientOptions } from '../../lib/index.js';

/** The HTTP clients SesameClient can reach the broker with: its own node:http one, or an app's axios instance. */
export type ClientTransport = 'default' | 'axios';

/** For `describe.each`: the client suites run once per transport, with the same assertions. */
export const CLIENT_TRANSPORTS: ClientTransport[] = ['default', 'axios'];

/** The client options that pick `transport`: none for the default, a fresh plain axios instance for axios. */
export function transportOptions(transport: ClientTransport): Pick<SesameClientOptions, 'httpClient'> {
  return transport === 'axios' ? { httpClient: axios.create() } : {};
}
