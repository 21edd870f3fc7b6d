import type { ApprovalDecisions } from '../approval-decisions.js';
import { copyApproval } from '../approval-copy.js';
import type { ApprovalRegistry } from '../approval-registry.js';
import { DashboardHandler } from './dashboard.handler.js';

/** The dashboard of one broker: it reads that broker's approvals and decides through its decisions. */
export function createBrokerDashboard(registry: ApprovalRegistry, decisions: ApprovalDecisions): DashboardHandler {
  return new DashboardHandler({
    list: () => registry.list(),
    decide: (id, decision, note) => copyApproval(decisions.decideForHttp(id, decision, note, 'dashboard')),
  });
}
