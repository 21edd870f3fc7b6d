import { SesameConfigError } from '../errors.js';
import type { ApprovalStore } from './approval-store.interface.js';
import { InMemoryApprovalStore } from './in-memory-approval.store.js';
import { RedisApprovalStore, type RedisApprovalStoreConnectOptions } from './redis-approval.store.js';

/**
 * The `store` option of SesameModule:
 * - omitted or `{ type: 'memory' }`: InMemoryApprovalStore (one process);
 * - `{ type: 'redis', url, connection?, keyPrefix?, commandTimeout? }`: a RedisApprovalStore the module connects and closes;
 * - any ApprovalStore instance (e.g. `new RedisApprovalStore({ client })`): used as is, never closed by the module.
 */
export type ApprovalStoreOption = ApprovalStore | { type: 'memory' } | ({ type: 'redis' } & RedisApprovalStoreConnectOptions);

export interface CreatedApprovalStore {
  store: ApprovalStore;
  /** True when the module built it, so the module closes it at shutdown. */
  owned: boolean;
}

const STORE_METHODS = ['claim', 'renew', 'complete', 'release'] as const;

/** Builds the module's store at bootstrap (inside a provider factory: one per app, never shared by accident). */
export async function createApprovalStore(option: ApprovalStoreOption | undefined): Promise<CreatedApprovalStore> {
  if (option === undefined) return { store: new InMemoryApprovalStore(), owned: true };
  if (typeof option !== 'object' || option === null) throw invalid();
  if (isApprovalStore(option)) return { store: option, owned: false };
  const { type, ...rest } = option as { type?: unknown };
  if (type === 'memory') {
    if (Object.keys(rest).length > 0) throw new SesameConfigError(`SesameModule: store { type: 'memory' } takes no other option (got ${Object.keys(rest).join(', ')})`);
    return { store: new InMemoryApprovalStore(), owned: true };
  }
  if (type === 'redis') return { store: await RedisApprovalStore.connect(rest as RedisApprovalStoreConnectOptions), owned: true };
  throw invalid();
}

function isApprovalStore(value: object): value is ApprovalStore {
  return STORE_METHODS.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
}

function invalid(): SesameConfigError {
  return new SesameConfigError(
    "SesameModule: store must be { type: 'memory' }, { type: 'redis', url: 'redis://...' } or an ApprovalStore instance " + `(an object with ${STORE_METHODS.join(', ')})`,
  );
}
