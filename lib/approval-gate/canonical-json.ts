import { types } from 'node:util';

/** A value that has no stable data representation (a request object, a function, a cycle). */
export class NotCanonicalError extends Error {
  constructor(
    readonly path: string,
    readonly what: string,
  ) {
    super(`${path} is ${what}`);
  }
}

const MAX_DEPTH = 64;

/**
 * One deterministic string per data value: object keys sorted, every value tagged with its type
 * (so `"1"` and `1`, `0` and `-0`, a Date and its ISO string, `{}` and `[]` never collide),
 * `undefined` object properties dropped as JSON would. A class instance (a validated DTO) counts by
 * its class name and its own enumerable properties, never by a `toJSON()` (which may leave out what
 * the method uses). Byte arrays, regular expressions, boxed primitives and URL search params count
 * by their content. Refuses what cannot be told apart by its data: functions, symbols, cycles,
 * streams and HTTP objects, errors, weak collections, blobs, and instances with no own data (their
 * state is in private fields or accessors).
 */
export function canonicalJson(value: unknown, path = '$'): string {
  return JSON.stringify(encode(value, path, new Set(), 0));
}

function encode(value: unknown, path: string, ancestors: Set<object>, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return ['s', value];
    case 'boolean':
      return ['b', value];
    case 'number':
      return ['n', Object.is(value, -0) ? '-0' : Number.isFinite(value) ? value : String(value)];
    case 'bigint':
      return ['i', value.toString()];
    case 'undefined':
      return ['u'];
    case 'function':
      throw new NotCanonicalError(path, 'a function');
    case 'symbol':
      throw new NotCanonicalError(path, 'a symbol');
  }
  if (value === null) return ['null'];
  const object = value as object;
  if (depth >= MAX_DEPTH) throw new NotCanonicalError(path, `nested more than ${MAX_DEPTH} levels deep`);
  if (ancestors.has(object)) throw new NotCanonicalError(path, 'a circular reference');
  if (types.isDate(object)) {
    const time = object.getTime();
    return ['d', Number.isNaN(time) ? 'invalid' : object.toISOString()];
  }
  if (ArrayBuffer.isView(object)) {
    return ['x', className(object), Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('base64')];
  }
  if (types.isAnyArrayBuffer(object)) return ['x', className(object), Buffer.from(new Uint8Array(object)).toString('base64')];
  if (types.isRegExp(object)) return ['re', object.source, object.flags];
  if (types.isBoxedPrimitive(object)) return ['box', encode(object.valueOf(), path, ancestors, depth + 1)];
  if (object instanceof URLSearchParams) return ['usp', object.toString()];
  if (object instanceof URL) return ['url', object.href];
  const opaque = opaqueKind(object);
  if (opaque) throw new NotCanonicalError(path, `${opaque}, whose data cannot be bound`);
  if (looksLikeEmitter(object)) throw new NotCanonicalError(path, 'an event emitter (an HTTP request, response, socket or stream), not data');

  ancestors.add(object);
  try {
    const tag = classTag(object);
    if (Array.isArray(object)) return ['a', tag, object.map((item, i) => encode(item, `${path}[${i}]`, ancestors, depth + 1))];
    if (types.isMap(object)) {
      const entries = [...object].map(([k, v], i) => [encode(k, `${path}<key ${i}>`, ancestors, depth + 1), encode(v, `${path}<value ${i}>`, ancestors, depth + 1)]);
      return ['m', tag, sortByJson(entries, (entry) => entry[0])];
    }
    if (types.isSet(object)) {
      return ['set', tag, sortByJson([...object].map((item, i) => encode(item, `${path}<item ${i}>`, ancestors, depth + 1)), (item) => item)];
    }
    if (Object.getOwnPropertySymbols(object).some((key) => Object.prototype.propertyIsEnumerable.call(object, key))) {
      throw new NotCanonicalError(path, 'an object with symbol keys, which cannot be bound');
    }
    const entries: [string, unknown][] = [];
    for (const key of Object.keys(object).sort()) {
      const property = (object as Record<string, unknown>)[key];
      if (property === undefined) continue;
      entries.push([key, encode(property, `${path}.${key}`, ancestors, depth + 1)]);
    }
    if (tag !== null && entries.length === 0) {
      throw new NotCanonicalError(path, `an instance of ${tag} with no own data (state in private fields or accessors cannot be bound)`);
    }
    return tag === null ? ['o', entries] : ['c', tag, entries];
  } finally {
    ancestors.delete(object);
  }
}

/** null for a plain object or array (or one without a prototype); else the class name, so two classes with the same fields differ. */
function classTag(object: object): string | null {
  const prototype = Object.getPrototypeOf(object) as object | null;
  if (prototype === null || prototype === Object.prototype || prototype === Array.prototype || prototype === Map.prototype || prototype === Set.prototype) return null;
  return className(object);
}

function className(object: object): string {
  const name = (object as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'anonymous class';
}

/** Values whose content a synchronous reader cannot see: refused rather than bound as empty. */
function opaqueKind(object: object): string | undefined {
  if (types.isNativeError(object)) return 'an Error';
  if (types.isWeakMap(object) || types.isWeakSet(object)) return 'a weak collection';
  if (types.isPromise(object)) return 'a Promise';
  if (typeof Blob !== 'undefined' && object instanceof Blob) return 'a Blob';
  if (types.isProxy(object)) return 'a Proxy';
  return undefined;
}

function looksLikeEmitter(object: object): boolean {
  const candidate = object as { on?: unknown; emit?: unknown; removeListener?: unknown };
  return typeof candidate.on === 'function' && typeof candidate.emit === 'function' && typeof candidate.removeListener === 'function';
}

function sortByJson<T>(items: T[], keyOf: (item: T) => unknown): T[] {
  return items
    .map((item) => ({ item, key: JSON.stringify(keyOf(item)) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ item }) => item);
}
