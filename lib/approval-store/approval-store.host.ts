import type { OnApplicationShutdown } from '@nestjs/common';
import { createApprovalStore, type ApprovalStoreOption } from './approval-store.factory.js';
import type { ApprovalStore } from './approval-store.interface.js';

/** Holds the app's store and closes it at shutdown when the module created it (never a store you passed in). */
export class ApprovalStoreHost implements OnApplicationShutdown {
  private constructor(
    readonly store: ApprovalStore,
    private readonly owned: boolean,
    /** True when no `store` option was given (the in-memory default). */
    readonly defaulted: boolean,
  ) {}

  static async create(option: ApprovalStoreOption | undefined): Promise<ApprovalStoreHost> {
    const { store, owned } = await createApprovalStore(option);
    return new ApprovalStoreHost(store, owned, option === undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.owned) await this.store.close?.();
  }
}
