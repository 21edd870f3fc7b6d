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
/** Values encoded per call at most: shared references are encoded once per path, so a small graph can be huge. */
const MAX_NODES = 100_000;

export interface CanonicalJsonOptions {
  /**
   * Class names seen so far and their classes: a second class under a name already taken is refused,
   * since the name is all the canonical form (stable across processes) keeps of a class.
   */
  classes?: Map<string, unknown>;
  /**
   * Encode what is not data as an opaque marker instead of refusing it: for a call whose approval
   * nobody else can find, whose data still has to be checked again before it runs.
   */
  lenient?: boolean;
}

/** Built-in prototypes a value may have and still count as that built-in (not a subclass with more state). */
const TYPED_ARRAY_PROTOTYPES = new Set<object>([
  Buffer.prototype,
  Int8Array.prototype,
  Uint8Array.prototype,
  Uint8ClampedArray.prototype,
  Int16Array.prototype,
  Uint16Array.prototype,
  Int32Array.prototype,
  Uint32Array.prototype,
  Float32Array.prototype,
  Float64Array.prototype,
  BigInt64Array.prototype,
  BigUint64Array.prototype,
  DataView.prototype,
]);

/**
 * One deterministic string per data value: object keys sorted, every value tagged with its type
 * (so `"1"` and `1`, `0` and `-0`, a Date and its ISO string, `{}` and `[]` never collide),
 * `undefined` object properties dropped as JSON would. A class instance (a validated DTO) counts by
 * its class name and its own enumerable data properties, never by a `toJSON()` (which may leave out
 * what the method uses). Byte arrays, regular expressions, boxed primitives and URLs count by their
 * content. Refuses what it cannot see all of, rather than bind it partly: functions, symbols,
 * cycles, proxies, streams and HTTP objects, errors, weak collections, blobs, accessor properties,
 * subclasses of built-ins, arrays or built-ins with extra properties, anonymous classes, and
 * instances of classes with getters or setters (which usually front private fields).
 */
export function canonicalJson(value: unknown, path = '$', options: CanonicalJsonOptions = {}): string {
  return JSON.stringify(new Encoder(options).encode(value, path, 0));
}

class Encoder {
  private readonly ancestors = new Set<object>();
  private nodes = 0;

  constructor(private readonly options: CanonicalJsonOptions) {}

  encode(value: unknown, path: string, depth: number): unknown {
    try {
      return this.encodeStrict(value, path, depth);
    } catch (error) {
      // An accessor is refused even here: it could show the gate one value and the method another.
      if (!this.options.lenient || !(error instanceof NotCanonicalError) || error instanceof AccessorError) throw error;
      return ['opaque', error.what];
    }
  }

  private encodeStrict(value: unknown, path: string, depth: number): unknown {
    if (++this.nodes > MAX_NODES) throw new NotCanonicalError(path, `part of a value of more than ${MAX_NODES} parts`);
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
    // First: a proxy can pose as any type below.
    if (types.isProxy(object)) throw new NotCanonicalError(path, 'a Proxy, whose data cannot be bound');
    if (depth >= MAX_DEPTH) throw new NotCanonicalError(path, `nested more than ${MAX_DEPTH} levels deep`);
    if (this.ancestors.has(object)) throw new NotCanonicalError(path, 'a circular reference');
    const builtIn = this.builtIn(object, path);
    if (builtIn !== undefined) return builtIn;
    if (looksLikeEmitter(object)) throw new NotCanonicalError(path, 'an event emitter (an HTTP request, response, socket or stream), not data');

    this.ancestors.add(object);
    try {
      if (Array.isArray(object)) return ['a', this.arrayItems(object, path, depth)];
      if (types.isMap(object)) {
        this.assertExactly(object, Map.prototype, 'a Map', path);
        const entries = [...Map.prototype.entries.call(object)].map(([k, v], i) => [
          this.encode(k, `${path}<key ${i}>`, depth + 1),
          this.encode(v, `${path}<value ${i}>`, depth + 1),
        ]);
        return ['m', sortByJson(entries, (entry) => entry[0])];
      }
      if (types.isSet(object)) {
        this.assertExactly(object, Set.prototype, 'a Set', path);
        const items = [...Set.prototype.values.call(object)].map((item, i) => this.encode(item, `${path}<item ${i}>`, depth + 1));
        return ['set', sortByJson(items, (item) => item)];
      }
      return this.record(object, path, depth);
    } finally {
      this.ancestors.delete(object);
    }
  }

  /** Values with a content of their own, encoded by it; refused when subclassed or given extra properties. */
  private builtIn(object: object, path: string): unknown {
    if (types.isDate(object)) {
      this.assertExactly(object, Date.prototype, 'a Date', path);
      const time = Date.prototype.getTime.call(object);
      return ['d', Number.isNaN(time) ? 'invalid' : Date.prototype.toISOString.call(object)];
    }
    if (ArrayBuffer.isView(object)) {
      const prototype = Object.getPrototypeOf(object) as object;
      if (!TYPED_ARRAY_PROTOTYPES.has(prototype) || hasOwnNonIndexKeys(object)) throw new NotCanonicalError(path, 'a subclass of a byte array, or one with extra properties');
      return ['x', className(object), Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('base64')];
    }
    if (types.isAnyArrayBuffer(object)) {
      const expected = types.isSharedArrayBuffer(object) ? SharedArrayBuffer.prototype : ArrayBuffer.prototype;
      this.assertExactly(object, expected, 'an ArrayBuffer', path);
      return ['x', className(object), Buffer.from(new Uint8Array(object)).toString('base64')];
    }
    if (types.isRegExp(object)) {
      this.assertExactly(object, RegExp.prototype, 'a RegExp', path);
      return ['re', object.source, object.flags];
    }
    if (types.isBoxedPrimitive(object)) {
      if (Object.keys(object).length > 0 && !types.isStringObject(object)) throw new NotCanonicalError(path, 'a boxed primitive with extra properties');
      return ['box', typeof object.valueOf(), String(object.valueOf())];
    }
    if (object instanceof URLSearchParams) {
      this.assertExactly(object, URLSearchParams.prototype, 'a URLSearchParams', path);
      return ['usp', URLSearchParams.prototype.toString.call(object)];
    }
    if (object instanceof URL) {
      this.assertExactly(object, URL.prototype, 'a URL', path);
      return ['url', object.href];
    }
    if (types.isNativeError(object)) throw new NotCanonicalError(path, 'an Error, whose data cannot be bound');
    if (types.isWeakMap(object) || types.isWeakSet(object)) throw new NotCanonicalError(path, 'a weak collection, whose data cannot be bound');
    if (types.isPromise(object)) throw new NotCanonicalError(path, 'a Promise, whose data cannot be bound');
    if (typeof Blob !== 'undefined' && object instanceof Blob) throw new NotCanonicalError(path, 'a Blob, whose data cannot be bound');
    return undefined;
  }

  /** Items by index, holes marked: an array's own `map` or iterator may be overridden, and extra properties are refused. */
  private arrayItems(array: unknown[], path: string, depth: number): unknown[] {
    if (Object.getPrototypeOf(array) !== Array.prototype || hasOwnNonIndexKeys(array)) {
      throw new NotCanonicalError(path, 'an Array subclass, or an array with extra properties');
    }
    const items: unknown[] = [];
    for (let i = 0; i < array.length; i++)
      items.push(Object.prototype.hasOwnProperty.call(array, i) ? this.encode(ownValue(array, String(i), `${path}[${i}]`), `${path}[${i}]`, depth + 1) : ['hole']);
    return items;
  }

  /**
   * A plain object or a class instance: its class name (if any) and its own enumerable data properties.
   * Lenient: one that cannot be bound in full (symbol keys, a class with accessors, an unnamed or
   * second class of a name) still has its own data bound, marked partial, so an edit of it is caught.
   */
  private record(object: object, path: string, depth: number): unknown {
    const { lenient } = this.options;
    let partial: string | undefined;
    if (Object.getOwnPropertySymbols(object).some((key) => Object.prototype.propertyIsEnumerable.call(object, key))) {
      if (!lenient) throw new NotCanonicalError(path, 'an object with symbol keys, which cannot be bound');
      partial = 'symbol keys';
    }
    let tag: string | null;
    try {
      tag = this.classTag(object, path);
    } catch (error) {
      if (!lenient || !(error instanceof NotCanonicalError)) throw error;
      tag = '(unnamed)';
      partial ??= error.what;
    }
    const entries: [string, unknown][] = [];
    for (const key of Object.keys(object).sort()) {
      const property = ownValue(object, key, `${path}.${key}`);
      if (property === undefined) continue;
      entries.push([key, this.encode(property, `${path}.${key}`, depth + 1)]);
    }
    if (tag !== null && hasAccessors(Object.getPrototypeOf(object) as object)) {
      // Accessors usually front private state, which the canonical form cannot see.
      if (!lenient) throw new NotCanonicalError(path, `an instance of ${tag}, a class with getters or setters (state in private fields cannot be bound)`);
      partial ??= 'a class with getters or setters';
    }
    if (partial !== undefined) return ['partial', tag, partial, entries];
    return tag === null ? ['o', entries] : ['c', tag, entries];
  }

  /** null for a plain object; else the class name, refused when anonymous or taken by another class. */
  private classTag(object: object, path: string): string | null {
    const prototype = Object.getPrototypeOf(object) as object | null;
    if (prototype === null || prototype === Object.prototype) return null;
    const constructor = (prototype as { constructor?: unknown }).constructor;
    const name = typeof constructor === 'function' ? constructor.name : '';
    if (name === '') throw new NotCanonicalError(path, 'an instance of an anonymous class, which cannot be told apart from another');
    const classes = this.options.classes;
    if (classes) {
      const known = classes.get(name);
      if (known === undefined) classes.set(name, constructor);
      else if (known !== constructor) throw new NotCanonicalError(path, `an instance of a second class named ${name}, which cannot be told apart from the first`);
    }
    return name;
  }

  private assertExactly(object: object, prototype: object, what: string, path: string): void {
    if (Object.getPrototypeOf(object) !== prototype || Object.keys(object).length > 0) {
      throw new NotCanonicalError(path, `a subclass of ${what.replace(/^an? /, '')}, or ${what} with extra properties`);
    }
  }
}

/** Refused in every mode: what an accessor answers can change between the binding's read and the method's. */
class AccessorError extends NotCanonicalError {}

/** An own data property's value; an accessor may answer differently each time it is read, so it is refused. */
function ownValue(object: object, key: string, path: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, key)!;
  if (descriptor.get || descriptor.set) throw new AccessorError(path, 'an accessor property, whose value can change between reads');
  return descriptor.value;
}

function hasOwnNonIndexKeys(object: object): boolean {
  return Object.keys(object).some((key) => !/^(0|[1-9]\d*)$/.test(key));
}

/** True when the prototype chain below Object.prototype defines a getter or setter. */
function hasAccessors(prototype: object | null): boolean {
  for (let p = prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const key of Reflect.ownKeys(p)) {
      const descriptor = Object.getOwnPropertyDescriptor(p, key);
      if (descriptor && (descriptor.get || descriptor.set)) return true;
    }
  }
  return false;
}

function className(object: object): string {
  const name = (object as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'anonymous';
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
