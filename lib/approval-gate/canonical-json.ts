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
 * (so `"1"` and `1`, a Date and its ISO string, `{}` and `[]` never collide), `undefined` object
 * properties dropped as JSON would. Class instances (validated DTOs) count by their own enumerable
 * properties. Refuses what is not data: functions, symbols, cycles, streams and HTTP objects.
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
      return ['n', Number.isFinite(value) ? (Object.is(value, -0) ? 0 : value) : String(value)];
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
  if (types.isUint8Array(object)) return ['x', Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('base64')];
  if (looksLikeEmitter(object)) throw new NotCanonicalError(path, 'an event emitter (an HTTP request, response, socket or stream), not data');
  if (types.isPromise(object)) throw new NotCanonicalError(path, 'a Promise');

  ancestors.add(object);
  try {
    if (Array.isArray(object)) return ['a', object.map((item, i) => encode(item, `${path}[${i}]`, ancestors, depth + 1))];
    if (types.isMap(object)) {
      const entries = [...object].map(([k, v], i) => [encode(k, `${path}<key ${i}>`, ancestors, depth + 1), encode(v, `${path}<value ${i}>`, ancestors, depth + 1)]);
      return ['m', sortByJson(entries, (entry) => entry[0])];
    }
    if (types.isSet(object)) {
      return ['set', sortByJson([...object].map((item, i) => encode(item, `${path}<item ${i}>`, ancestors, depth + 1)), (item) => item)];
    }
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return ['j', encode(toJSON.call(object), `${path}.toJSON()`, ancestors, depth + 1)];
    const entries: [string, unknown][] = [];
    for (const key of Object.keys(object).sort()) {
      const property = (object as Record<string, unknown>)[key];
      if (property === undefined) continue;
      entries.push([key, encode(property, `${path}.${key}`, ancestors, depth + 1)]);
    }
    return ['o', entries];
  } finally {
    ancestors.delete(object);
  }
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
