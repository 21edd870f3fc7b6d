import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';

/**
 * Validates a plain object against a class-validator class and returns the list of problems,
 * each naming the property path. Values are never echoed: options hold secrets.
 */
export function validatePlain<T extends object>(cls: ClassConstructor<T>, plain: object): string[] {
  const instance = plainToInstance(cls, plain, { enableImplicitConversion: false });
  const errors = validateSync(instance, { forbidUnknownValues: false, validationError: { target: false, value: false } });
  return errors.flatMap((e) => describe(e, ''));
}

function describe(error: ValidationError, prefix: string): string[] {
  const path = prefix ? `${prefix}.${error.property}` : error.property;
  const own = Object.values(error.constraints ?? {}).map((message) => `${path}: ${message}`);
  return [...own, ...(error.children ?? []).flatMap((child) => describe(child, path))];
}
