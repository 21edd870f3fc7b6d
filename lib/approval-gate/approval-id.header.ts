import { InvalidApprovalIdHeaderError } from './approval-gate.errors.js';

/** Request header of an async-mode repeat, and response header of a `202`: the approval id. */
export const SESAME_APPROVAL_ID_HEADER = 'Sesame-Approval-Id';

const MAX_ID_LENGTH = 200;

/** The approval id the client presents, or undefined when it presents none. Throws InvalidApprovalIdHeaderError. */
export function readApprovalIdHeader(headers: Record<string, unknown> | undefined): string | undefined {
  const value = headers?.[SESAME_APPROVAL_ID_HEADER.toLowerCase()];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new InvalidApprovalIdHeaderError('sent more than once');
  if (typeof value !== 'string') throw new InvalidApprovalIdHeaderError('not a string');
  const id = value.trim();
  if (id === '') throw new InvalidApprovalIdHeaderError('empty');
  // Node joins a repeated header with ", ".
  if (id.includes(',')) throw new InvalidApprovalIdHeaderError('sent more than once');
  if (id.length > MAX_ID_LENGTH) throw new InvalidApprovalIdHeaderError(`longer than ${MAX_ID_LENGTH} characters`);
  // Ids are opaque but path-safe (protocol v1): anything else cannot be an approval id.
  if (!/^[\x21-\x7e]+$/.test(id)) throw new InvalidApprovalIdHeaderError('not printable ASCII without spaces');
  return id;
}
