import { inspect } from 'node:util';
import { SesameClient, SesameConfigError } from '../../lib/index.js';
import { DEFAULT_BROKER_URL } from '../../lib/client/sesame-client.options.js';

const KEY = 'sk_live_SECRET_options_91c2';

function configError(fn: () => unknown): SesameConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SesameConfigError);
    expect((e as Error).message).not.toContain(KEY);
    return e as SesameConfigError;
  }
  throw new Error('expected a SesameConfigError');
}

describe('SesameClient options', () => {
  it('reads SESAME_API_KEY and SESAME_BROKER_URL, defaulting to the hosted broker', () => {
    expect(new SesameClient({ env: { SESAME_API_KEY: KEY } }).baseUrl).toBe(DEFAULT_BROKER_URL);
    expect(new SesameClient({ env: { SESAME_API_KEY: KEY, SESAME_BROKER_URL: 'http://localhost:8000/' } }).baseUrl).toBe('http://localhost:8000');
    expect(new SesameClient({ apiKey: KEY, baseUrl: 'https://broker.example.com/sesame', env: {} }).baseUrl).toBe('https://broker.example.com/sesame');
  });

  it('a missing key says how to fix it', () => {
    expect(configError(() => new SesameClient({ env: {} })).message).toMatch(/SESAME_API_KEY/);
  });

  it.each(['not a url', 'ftp://broker.example.com', '//broker.example.com'])('refuses the malformed URL %p', (baseUrl) => {
    expect(configError(() => new SesameClient({ apiKey: KEY, baseUrl, env: {} })).message).toMatch(/URL/);
  });

  it('refuses credentials embedded in the URL without echoing them', () => {
    const e = configError(() => new SesameClient({ apiKey: KEY, baseUrl: `https://user:${KEY}@broker.example.com`, env: {} }));
    expect(e.message).toMatch(/credentials/);
  });

  it('refuses plain http to a non-loopback host unless explicitly allowed', () => {
    expect(configError(() => new SesameClient({ apiKey: KEY, baseUrl: 'http://broker.example.com', env: {} })).message).toMatch(/allowInsecureHttp/);
    expect(new SesameClient({ apiKey: KEY, baseUrl: 'http://broker.example.com', allowInsecureHttp: true, env: {} }).baseUrl).toBe('http://broker.example.com');
    for (const host of ['127.0.0.1:4000', 'localhost', '[::1]:9', '127.1.2.3']) {
      expect(new SesameClient({ apiKey: KEY, baseUrl: `http://${host}`, env: {} }).baseUrl).toBe(`http://${host}`);
    }
  });

  it('names each invalid option', () => {
    const e = configError(() => new SesameClient({ apiKey: KEY, env: {}, requestTimeout: -1, retry: { retries: 1.5 }, allowInsecureHttp: 'yes' as unknown as boolean }));
    expect(e.message).toMatch(/requestTimeout/);
    expect(e.message).toMatch(/retry\.retries/);
    expect(e.message).toMatch(/allowInsecureHttp/);
  });

  it('never shows the key when the client is inspected or serialised', () => {
    const client = new SesameClient({ apiKey: KEY, env: {} });
    expect(inspect(client, { depth: 20, showHidden: true })).not.toContain(KEY);
    expect(JSON.stringify(client)).not.toContain(KEY);
    client.close();
  });
});
