import type { LocalBrokerLogger } from './local-broker.options.js';

/** Logs one line; never throws. */
export type BrokerLog = (message: string) => void;

/**
 * The broker's log: the logger is the caller's code, and logging runs after a change was committed,
 * so a logger that throws is ignored rather than allowed to undo or break anything.
 */
export function brokerLog(logger: LocalBrokerLogger | undefined): BrokerLog {
  return (message) => {
    try {
      logger?.log(`[sesame-local-broker] ${message}`);
    } catch {
      // nowhere left to report a broken logger; the broker's behaviour must not depend on it
    }
  };
}

export function errorMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

/** Request text quoted back in error messages and logs is bounded. */
export function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}
