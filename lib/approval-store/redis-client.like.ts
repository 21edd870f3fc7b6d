/* eslint-disable @typescript-eslint/no-explicit-any -- listener signatures must accept ioredis' own */

/**
 * The part of an ioredis client the Redis store uses. Structural, so this package's type declarations
 * never import `ioredis` (an optional peer dependency): any ioredis 5 or 6 `Redis` instance fits.
 */
export interface RedisClientLike {
  /** ioredis connection status: `ready` when commands can run. */
  readonly status: string;
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** ioredis constructor options, passed through untouched (host, port, username, password, db, tls, ...). */
export type RedisConnectionOptions = Record<string, unknown>;
