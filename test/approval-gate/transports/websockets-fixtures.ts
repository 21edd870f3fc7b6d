import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { SesameModule } from '../../../lib/index.js';
import { LocalBroker } from '../../../lib/testing/index.js';
import type { GatedApp, GatedAppOptions } from '../../support/gated-app.js';
import { startApp } from '../../support/nest-apps.js';

/** The two WebSocket adapters Nest ships: `@nestjs/platform-ws` and `@nestjs/platform-socket.io`. */
export type SocketKind = 'ws' | 'socket.io';
export const SOCKET_KINDS: SocketKind[] = ['ws', 'socket.io'];

/**
 * startGatedApp (test/support/gated-app.ts) with the gateway's adapter set before init: a local
 * broker, and an Express app on loopback whose gateways share its HTTP server.
 * `sesame.baseUrl` overrides the broker's URL (a broker that is down).
 */
export async function startSocketApp(kind: SocketKind, options: Omit<GatedAppOptions, 'validation'>): Promise<GatedApp> {
  const { apiKey, broker: brokerOptions, sesame, imports = [], ...metadata } = options;
  const broker = await LocalBroker.start({ apiKeys: [apiKey], ...brokerOptions });
  try {
    const started = await startApp('express', { ...metadata, imports: [SesameModule.forRoot({ apiKey, baseUrl: broker.url, env: {}, ...sesame }), ...imports] }, (app) =>
      app.useWebSocketAdapter(kind === 'ws' ? new WsAdapter(app) : new IoAdapter(app)),
    );
    return { broker, started };
  } catch (error) {
    await broker.stop();
    throw error;
  }
}

export interface SocketMessage {
  event: string;
  data: unknown;
}

/**
 * One real client of either kind, seen the same way: `send(event, data)`, and every event the server
 * sent, kept in order (`received`, and `next(event)` to wait for the next one of a name).
 */
export interface SocketClient {
  readonly received: readonly SocketMessage[];
  send(event: string, data: unknown): void;
  /** The next `event` not yet taken by an earlier next(); rejects after `timeoutMs`. */
  next(event: string, timeoutMs?: number): Promise<unknown>;
  /** socket.io only: emits with an ack callback and resolves with what the ack carried. */
  ack?(event: string, data: unknown): Promise<unknown>;
  /** Closes from the client side and resolves once the client saw the connection end. */
  close(): Promise<void>;
}

/** Connects to the app's gateway; `user` goes in the query string, where the gateway reads the requester. */
export async function connectSocket(kind: SocketKind, appUrl: string, user?: string): Promise<SocketClient> {
  return kind === 'ws' ? connectWs(appUrl, user) : connectIo(appUrl, user);
}

/** Everything received, and per-event waiters (each message is taken once). */
class Inbox {
  readonly received: SocketMessage[] = [];
  private readonly taken = new Set<number>();
  private readonly waiters: { event: string; resolve: (data: unknown) => void }[] = [];

  push(message: SocketMessage): void {
    const index = this.received.push(message) - 1;
    const waiter = this.waiters.findIndex((w) => w.event === message.event);
    if (waiter === -1) return;
    this.taken.add(index);
    this.waiters.splice(waiter, 1)[0].resolve(message.data);
  }

  next(event: string, timeoutMs: number): Promise<unknown> {
    const index = this.received.findIndex((m, i) => m.event === event && !this.taken.has(i));
    if (index !== -1) {
      this.taken.add(index);
      return Promise.resolve(this.received[index].data);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        event,
        resolve: (data: unknown) => {
          clearTimeout(timer);
          resolve(data);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no "${event}" within ${timeoutMs} ms; received: ${JSON.stringify(this.received)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

const NEXT_TIMEOUT_MS = 10_000;

async function connectWs(appUrl: string, user: string | undefined): Promise<SocketClient> {
  const url = new URL(appUrl.replace(/^http/, 'ws'));
  if (user !== undefined) url.searchParams.set('user', user);
  const socket = new WebSocket(url);
  const inbox = new Inbox();
  socket.on('message', (raw: WebSocket.RawData) => {
    const parsed = JSON.parse(raw.toString()) as SocketMessage;
    inbox.push({ event: parsed.event, data: parsed.data });
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    received: inbox.received,
    send: (event, data) => socket.send(JSON.stringify({ event, data })),
    next: (event, timeoutMs = NEXT_TIMEOUT_MS) => inbox.next(event, timeoutMs),
    close: async () => {
      if (socket.readyState !== WebSocket.CLOSED) socket.close();
      await closed;
    },
  };
}

async function connectIo(appUrl: string, user: string | undefined): Promise<SocketClient> {
  const socket: Socket = io(appUrl, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(user !== undefined && { query: { user } }),
  });
  const inbox = new Inbox();
  socket.onAny((event: string, data: unknown) => inbox.push({ event, data }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return {
    received: inbox.received,
    send: (event, data) => void socket.emit(event, data),
    next: (event, timeoutMs = NEXT_TIMEOUT_MS) => inbox.next(event, timeoutMs),
    ack: (event, data) => socket.timeout(NEXT_TIMEOUT_MS).emitWithAck(event, data) as Promise<unknown>,
    close: async () => {
      // disconnect() sends the close packet and ends the engine: the server sees its 'disconnect'.
      if (socket.connected) socket.disconnect();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
