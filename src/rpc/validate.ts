import type { z } from 'zod';
import { invalidParams } from '../errors.js';

/** Parses a request's params with its schema; the error names the first bad field and the value received. */
export function parseParams<S extends z.ZodType>(schema: S, params: unknown, root = 'params'): z.output<S> {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const field = [root, ...path, key].join('.');
    return fail(field, valueAt(params, [...path, key]), 'is not a known field');
  }
  const field = [root, ...path].join('.');
  return fail(field, valueAt(params, path), describe(issue));
}

function fail(field: string, value: unknown, why: string): never {
  throw invalidParams(field, value, why);
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `must be ${issue.expected}`;
  if (issue.code === 'too_big') return `is too large (at most ${String(issue.maximum)}${issue.origin === 'string' ? ' characters' : issue.origin === 'array' ? ' items' : ''})`;
  if (issue.code === 'too_small') return `is too small (at least ${String(issue.minimum)}${issue.origin === 'string' ? ' characters' : ''})`;
  return issue.message;
}

/** Reads a nested value by path, own properties only (never the prototype chain). */
function valueAt(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
