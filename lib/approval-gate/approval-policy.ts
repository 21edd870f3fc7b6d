import type { ApprovalHttpRequest, ApprovalTransport } from './approval-scope.js';

/** One gated call, as an ApprovalPolicy sees it before anything is asked. */
export interface ApprovalPolicyCall {
  action: string;
  className: string;
  methodName: string;
  /** The arguments the method gets (validated, for handlers). Read them; changing them makes the call fail closed. */
  args: readonly unknown[];
  /** Who asks (ApprovalGate.requesterOf): over HTTP and GraphQL `request.user.id` or `.sub`; undefined when unknown. */
  requester?: string;
  /** The request (HTTP, GraphQL's `context.req`), when the call runs for one. */
  request?: ApprovalHttpRequest;
  /** Where the call came from; undefined for a provider method called outside any handler. */
  transport?: ApprovalTransport;
}

/** `ask`: a human decides. `allow`: runs at once, no approval. `{ deny }`: refused with the reason (403 `approval_policy_denied`). */
export type ApprovalPolicyDecision = 'ask' | 'allow' | { deny: string };

/**
 * Decides, before the gate asks anyone, whether a gated call needs a human: set one per app with
 * `SesameModule.forRoot({ policy: MyPolicy })`. An injectable class: if it is a provider anywhere in
 * the app that instance is used (with that module's dependencies), else SesameModule creates it
 * (its dependencies then come from the module's `imports` or global providers). It runs before the
 * decorator's `when`; if it throws, nothing runs.
 */
export interface ApprovalPolicy {
  evaluate(call: ApprovalPolicyCall): ApprovalPolicyDecision | Promise<ApprovalPolicyDecision>;
}
