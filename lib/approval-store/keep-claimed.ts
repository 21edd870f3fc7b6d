import type { ApprovalStore } from './approval-store.interface.js';

export interface ClaimRenewal {
  stop(): void;
}

/**
 * Renews a claim every third of its lease until stopped, so work that outlasts the lease keeps it
 * (a process that dies stops renewing, and the claim lapses as before). `onLost` is told once when a
 * renewal fails or finds the claim gone; renewing goes on after a failure, since the store may be back.
 */
export function keepClaimed(store: ApprovalStore, key: string, token: string, lease: number, onLost: (reason: string) => void): ClaimRenewal {
  let stopped = false;
  let told = false;
  const tell = (reason: string) => {
    if (!told && !stopped) onLost(reason);
    told = true;
  };
  const timer = setInterval(
    () => {
      store.renew(key, token, lease).then(
        (held) => held || tell('the claim was no longer held'),
        (error: unknown) => tell((error as { message?: string } | null)?.message ?? String(error)),
      );
    },
    Math.max(1, Math.floor(lease / 3)),
  );
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
