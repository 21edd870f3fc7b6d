import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-io.js';

/**
 * The API key check of every `/v1` request. Keys are held as SHA-256 digests and looked up by the
 * digest of the presented key, so the lookup never compares secret bytes one at a time.
 */
export class BrokerAuth {
  /** digest of the key -> requester label. */
  private readonly labels: ReadonlyMap<string, string>;

  constructor(apiKeys: ReadonlyMap<string, string>) {
    this.labels = new Map([...apiKeys].map(([key, label]) => [digest(key), label]));
  }

  /** The requester label of the request's `Authorization: Bearer` key; HttpError 401 for a missing or unknown key. */
  requesterLabel(req: IncomingMessage): string {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const label = match ? this.labels.get(digest(match[1])) : undefined;
    if (label === undefined) {
      throw new HttpError(401, 'unauthorized', 'Missing or unknown API key: send "Authorization: Bearer <api key>"', {
        'www-authenticate': 'Bearer realm="sesame"',
      });
    }
    return label;
  }
}

function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
