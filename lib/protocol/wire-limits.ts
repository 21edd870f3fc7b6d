/**
 * Every number broker protocol v1 bounds (docs/protocol.md, Limits): the local broker enforces them,
 * the client checks its input against them before sending. Durations are the wire's whole seconds.
 */
export const WIRE_LIMITS = Object.freeze({
  /** Request bodies, in bytes; past it the broker answers 413. */
  bodyMaxBytes: 1024 * 1024,
  actionMaxLength: 200,
  summaryMaxLength: 2000,
  dedupKeyMaxLength: 200,
  /** Nesting levels of `context`, the object itself counting as 1 (arrays count too). */
  contextMaxDepth: 32,
  /** UTF-8 bytes of `context` serialised as JSON. */
  contextMaxBytes: 64 * 1024,
  noteMaxLength: 2000,
  expiresInMin: 1,
  /** 7 days. */
  expiresInMax: 604_800,
  expiresInDefault: 3600,
  /** The `timeout` of one long-poll on the wait endpoint. */
  waitMin: 1,
  waitMax: 60,
  waitDefault: 30,
  listLimitDefault: 100,
  listLimitMax: 500,
});
