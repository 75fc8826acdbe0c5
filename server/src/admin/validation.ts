import { ValidationError, ValidationPipe } from '@nestjs/common';
import { invalidFields } from '../common/api-errors';

/**
 * Validates admin API bodies and queries against their DTO classes (class-validator): unknown
 * properties are refused, and a bad request gets 400
 * `{"error":"invalid_request","message":"…","fields":{"email":"must be an email"}}` naming each bad field.
 */
export const adminValidationPipe = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  exceptionFactory: (errors) => invalidFields(fieldProblems(errors)),
});

/** field (dotted path for nested objects) → its first problem, without the field name class-validator starts it with. */
export function fieldProblems(errors: ValidationError[], parent = ''): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    if (error.constraints) fields[path] = problemOf(error);
    if (error.children?.length) Object.assign(fields, fieldProblems(error.children, path));
  }
  return fields;
}

const TYPE_CHECKS = new Set(['isString', 'isInt', 'isNumber', 'isBoolean', 'isArray', 'isObject']);

function problemOf(error: ValidationError): string {
  const constraints = Object.entries(error.constraints ?? {});
  if (constraints.some(([name]) => name === 'whitelistValidation')) return 'is not a known field';
  if (error.value === undefined) return 'is required';
  // A value of the wrong type fails every check; its type is what to report.
  const [, message] = constraints.find(([name]) => TYPE_CHECKS.has(name)) ?? constraints[0];
  return message.replace(new RegExp(`^${escapeRegExp(error.property)} `), '');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
