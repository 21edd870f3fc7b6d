import 'reflect-metadata';

/**
 * Applies TypeScript-style decorators from plain JavaScript, so the benchmarks can build real Nest
 * apps from the built package without a compile step. Same order as TypeScript: listed top to bottom.
 */
export function decorateClass(target, decorators, { paramTypes } = {}) {
  if (paramTypes) Reflect.defineMetadata('design:paramtypes', paramTypes, target);
  const result = Reflect.decorate(decorators, target);
  return result ?? target;
}

export function decorateMethod(target, key, decorators, { paramTypes = [] } = {}) {
  const proto = target.prototype;
  Reflect.defineMetadata('design:paramtypes', paramTypes, proto, key);
  const descriptor = Object.getOwnPropertyDescriptor(proto, key);
  const result = Reflect.decorate(decorators, proto, key, descriptor);
  Object.defineProperty(proto, key, result ?? descriptor);
}

/** A parameter decorator (`@Param('id')`) on parameter `index` of `key`. */
export function decorateParam(target, key, index, decorator) {
  decorator(target.prototype, key, index);
}
