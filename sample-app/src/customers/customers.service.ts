import { Injectable } from '@nestjs/common';
import { RequireApproval } from 'nestjs-sesame';

export interface Customer {
  id: string;
  name: string;
  email: string;
}

export interface BulkDeleteResult {
  deleted: string[];
  notFound: string[];
}

/** An in-memory customer table. */
@Injectable()
export class CustomersService {
  private readonly customers = new Map<string, Customer>(
    [
      { id: 'cus_ada', name: 'Ada Lovelace', email: 'ada@example.com' },
      { id: 'cus_grace', name: 'Grace Hopper', email: 'grace@example.com' },
      { id: 'cus_alan', name: 'Alan Turing', email: 'alan@example.com' },
      { id: 'cus_edsger', name: 'Edsger Dijkstra', email: 'edsger@example.com' },
      { id: 'cus_barbara', name: 'Barbara Liskov', email: 'barbara@example.com' },
    ].map((c) => [c.id, c]),
  );

  list(): Customer[] {
    return [...this.customers.values()];
  }

  /**
   * Gated on the service itself, so every caller (this app's route, a queue worker, a CLI) needs an
   * approval. Denied -> throws ApprovalDenied, which a route turns into 403; the body never runs.
   */
  @RequireApproval('customers.bulk-delete', {
    summary: (ids: string[]) => `Delete ${ids.length} customer${ids.length === 1 ? '' : 's'}: ${preview(ids)}`,
    reason: 'Bulk delete from the admin API',
    context: (ids: string[]) => ({ ids, count: ids.length }),
  })
  async bulkDelete(ids: string[]): Promise<BulkDeleteResult> {
    const result: BulkDeleteResult = { deleted: [], notFound: [] };
    for (const id of new Set(ids)) (this.customers.delete(id) ? result.deleted : result.notFound).push(id);
    return result;
  }
}

function preview(ids: string[]): string {
  return ids.length <= 3 ? ids.join(', ') : `${ids.slice(0, 3).join(', ')} and ${ids.length - 3} more`;
}
