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

/** The connection events a RedisConnectionView relays: none carries a payload. */
export type RedisConnectionEvent = 'connect' | 'ready' | 'close' | 'end';

/**
 * `RedisApprovalStore.client`: the connection's status and lifecycle events, never the ioredis
 * client itself (its options hold the password). Use your own client to read keys.
 */
export interface RedisConnectionView {
  /** ioredis connection status: `ready` when commands can run, `end` once closed for good. */
  readonly status: string;
  on(event: RedisConnectionEvent, listener: () => void): this;
  off(event: RedisConnectionEvent, listener: () => void): this;
}
