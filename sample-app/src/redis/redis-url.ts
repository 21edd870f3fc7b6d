/**
 * A Redis URL as the sample takes it (`redis://[[user]:password@]host[:port][/db]`, or `rediss://` for
 * TLS). It may carry a password, so errors never echo it and logs show only `redisLabel()`.
 */
export function checkRedisUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} must be a URL such as redis://127.0.0.1:6379 (or rediss:// for TLS)`);
  }
  // Lowercase, as written: ioredis turns TLS on for `rediss://` only, so `REDISS://` would connect in the clear.
  if (!/^rediss?:\/\//.test(value)) throw new Error(`${name} must start with redis:// or rediss:// (lowercase)`);
  if (url.hostname === '') throw new Error(`${name} must name a host, e.g. redis://127.0.0.1:6379`);
  return value;
}

/** The URL without its credentials, for the banner and errors: `redis://127.0.0.1:6379/0`. */
export function redisLabel(value: string): string {
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}

/** Replaces the URL's password (as written and decoded) in `text`: for messages from Redis clients. */
export function withoutRedisPassword(text: string, value: string): string {
  const { password } = new URL(value);
  // The password as typed too: the parser may re-encode it.
  const typed = /^rediss?:\/\/[^/?#:@]*:([^/?#]*)@/.exec(value)?.[1] ?? '';
  const secrets = [password, safeDecode(password), typed, safeDecode(typed)].filter((s) => s.length > 0);
  // Longest first, so no part of a longer spelling is left behind.
  return secrets.sort((a, b) => b.length - a.length).reduce((out, secret) => out.split(secret).join('***'), text);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
