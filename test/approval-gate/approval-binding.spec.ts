import { createSecretKey } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { RequireApproval, SesameConfigError } from '../../lib/index.js';
import { bindingDedupKey, bindingDigest, dedupKeyMatches, discriminatorFor } from '../../lib/approval-gate/approval-binding.js';
import { readApprovalIdHeader } from '../../lib/approval-gate/approval-id.header.js';
import { canonicalJson, NotCanonicalError } from '../../lib/approval-gate/canonical-json.js';

/** The same object with its keys inserted in reverse order, all the way down. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversedKeys(v)]),
  );
}

describe('canonicalJson', () => {
  it('does not depend on key order', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => canonicalJson(value) === canonicalJson(reversedKeys(value))));
  });

  it('two JSON values share a canonical form exactly when they are deeply equal', () => {
    const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    // Half the pairs are equal by construction (a copy with its keys reordered), half independent.
    const pairs = fc.oneof(
      json.map((x) => [x, reversedKeys(x)] as const),
      fc.tuple(json, json),
    );
    fc.assert(fc.property(pairs, ([x, y]) => (canonicalJson(x) === canonicalJson(y)) === isDeepStrictEqual(x, y)));
  });

  it('tags types, so look-alike values never collide', () => {
    const distinct = [1, '1', true, 'true', null, 'null', [], {}, [1], { 0: 1 }, new Date(0), new Date(0).toISOString(), 10n, '10', Buffer.from('a'), 'YQ=='];
    const forms = new Set(distinct.map((v) => canonicalJson(v)));
    expect(forms.size).toBe(distinct.length);
  });

  it('counts a DTO instance by its class and own data (never its toJSON), drops undefined properties, and orders Maps and Sets', () => {
    class RefundDto {
      amount = 42;
      customerId = 'cus_1';
      note: string | undefined = undefined;
      toJSON() {
        return { amount: this.amount };
      }
    }
    class PayoutDto {
      amount = 42;
      customerId = 'cus_1';
    }
    const dto = new RefundDto();
    expect(canonicalJson(dto)).toBe(canonicalJson(Object.assign(new RefundDto(), { customerId: 'cus_1', amount: 42 })));
    expect(canonicalJson(dto)).not.toBe(canonicalJson(Object.assign(new RefundDto(), { customerId: 'cus_2' })));
    expect(canonicalJson(dto)).not.toBe(canonicalJson(new PayoutDto()));
    expect(canonicalJson(dto)).not.toBe(canonicalJson({ customerId: 'cus_1', amount: 42 }));
    expect(
      canonicalJson(
        new Map([
          ['b', 1],
          ['a', 2],
        ]),
      ),
    ).toBe(
      canonicalJson(
        new Map([
          ['a', 2],
          ['b', 1],
        ]),
      ),
    );
    expect(canonicalJson(new Set([3, 1, 2]))).toBe(canonicalJson(new Set([1, 2, 3])));
    expect(canonicalJson(-0)).not.toBe(canonicalJson(0));
  });

  it('counts bytes, regular expressions, boxed primitives and search params by their content', () => {
    const distinct = [
      new Uint8Array([1]).buffer,
      new Uint8Array([2]).buffer,
      new DataView(new Uint8Array([1]).buffer),
      new Int32Array([1]),
      new Uint32Array([1]),
      { 0: 1 },
      /^a/,
      /^a/i,
      /.*/,
      new Number(1),
      new Number(2),
      1,
      new URLSearchParams('a=1'),
      new URLSearchParams('a=2'),
      new URL('https://example.com/a'),
    ];
    expect(new Set(distinct.map((v) => canonicalJson(v))).size).toBe(distinct.length);
  });

  it('refuses instances of classes with accessors, errors, weak collections, blobs and symbol keys', () => {
    class Money {
      readonly #cents: number;
      constructor(cents: number) {
        this.#cents = cents;
      }
      get cents(): number {
        return this.#cents;
      }
    }
    expect(() => canonicalJson([new Money(1)], 'args')).toThrow('args[0] is an instance of Money, a class with getters or setters');
    expect(() => canonicalJson(new Error('x'))).toThrow('an Error');
    expect(() => canonicalJson(new WeakMap())).toThrow('a weak collection');
    expect(() => canonicalJson(new Blob(['x']))).toThrow('a Blob');
    expect(() => canonicalJson({ [Symbol('k')]: 1, a: 1 })).toThrow('symbol keys');
  });

  it('refuses what is not data, naming where it is', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic, 'args')).toThrow(new NotCanonicalError('args.self', 'a circular reference'));
    expect(() => canonicalJson([{ f: () => 1 }], 'args')).toThrow('args[0].f is a function');
    expect(() => canonicalJson({ req: new EventEmitter() }, 'args')).toThrow(/args\.req is an event emitter/);
    expect(() => canonicalJson(Symbol('x'))).toThrow(NotCanonicalError);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/nested more than 64 levels/);
  });

  it('accepts the same object twice when it is no cycle', () => {
    const shared = { x: 1 };
    expect(() => canonicalJson({ a: shared, b: shared })).not.toThrow();
  });
});

describe('approval binding', () => {
  const key = createSecretKey(Buffer.alloc(32, 7));
  const base = { action: 'payments.refund', method: 'RefundsController.refund', args: [{ amount: 42, customerId: 'cus_1' }], requester: 'alice' };

  it('the digest changes with the action, the method, any argument, the requester and the key', () => {
    const digest = bindingDigest(key, base);
    expect(digest).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(bindingDigest(key, { ...base, args: [{ customerId: 'cus_1', amount: 42 }] })).toBe(digest);
    expect(bindingDigest(key, { ...base, action: 'payments.payout' })).not.toBe(digest);
    expect(bindingDigest(key, { ...base, method: 'RefundsController.refundAll' })).not.toBe(digest);
    expect(bindingDigest(key, { ...base, args: [{ amount: 43, customerId: 'cus_1' }] })).not.toBe(digest);
    expect(bindingDigest(key, { ...base, args: [{ amount: 42, customerId: 'cus_1' }, 'extra'] })).not.toBe(digest);
    expect(bindingDigest(key, { ...base, requester: 'bob' })).not.toBe(digest);
    expect(bindingDigest(key, { ...base, requester: undefined })).not.toBe(digest);
    // Keyed: without the server's key nobody computes it, not even from the same inputs.
    expect(bindingDigest(createSecretKey(Buffer.alloc(32, 8)), base)).not.toBe(digest);
  });

  it('derives dedup keys that fit the protocol (at most 200 characters) and match only their own digest', () => {
    const digest = bindingDigest(key, base);
    const other = bindingDigest(key, { ...base, requester: 'bob' });
    const first = bindingDedupKey(digest);
    const next = bindingDedupKey(digest, discriminatorFor('after', 'apr_used_one'));
    expect(first).toBe(`sesame:v2:${digest}`);
    expect(next).not.toBe(first);
    expect(bindingDedupKey(digest, discriminatorFor('after', 'apr_used_one'))).toBe(next);
    expect(next.length).toBeLessThanOrEqual(200);
    for (const k of [first, next]) {
      expect(dedupKeyMatches(k, digest)).toBe(true);
      expect(dedupKeyMatches(k, other)).toBe(false);
    }
    expect(dedupKeyMatches(null, digest)).toBe(false);
    expect(dedupKeyMatches(`sesame:v2:${digest}x`, digest)).toBe(false);
    expect(dedupKeyMatches(`sesame:v1:${digest}`, digest)).toBe(false);
    expect(dedupKeyMatches(`user-key-${digest}`, digest)).toBe(false);
  });
});

describe('Sesame-Approval-Id request header', () => {
  it('reads one printable id, and undefined when absent', () => {
    expect(readApprovalIdHeader({ 'sesame-approval-id': 'apr_5d0c2a7e91b44f0e8a1c2d3e' })).toBe('apr_5d0c2a7e91b44f0e8a1c2d3e');
    expect(readApprovalIdHeader({ 'sesame-approval-id': '  apr_1 ' })).toBe('apr_1');
    expect(readApprovalIdHeader({})).toBeUndefined();
    expect(readApprovalIdHeader(undefined)).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['apr_1, apr_2', 'sent more than once'],
    [['apr_1', 'apr_2'], 'sent more than once'],
    ['apr 1', 'printable ASCII'],
    ['apr_é', 'printable ASCII'],
    ['a'.repeat(201), 'longer than 200'],
  ])('refuses %j (%s)', (value, why) => {
    expect(() => readApprovalIdHeader({ 'sesame-approval-id': value })).toThrow(why);
  });
});

describe("@RequireApproval options for mode 'async'", () => {
  it('refuses an unknown mode, a dedupKey with async mode, and a bad retryAfter', () => {
    expect(() => RequireApproval('x.y', { mode: 'later' as 'async' })).toThrow(SesameConfigError);
    expect(() => RequireApproval('x.y', { mode: 'async', dedupKey: 'k' })).toThrow("dedupKey cannot be set with mode 'async'");
    expect(() => RequireApproval('x.y', { mode: 'async', retryAfter: 0 })).toThrow('retryAfter must be a positive integer of milliseconds');
    expect(() => RequireApproval('x.y', { mode: 'async', retryAfter: 2_000 })).not.toThrow();
    expect(() => RequireApproval('x.y', { mode: 'blocking', dedupKey: 'k' })).not.toThrow();
  });
});
