import { invalidParams } from './errors.js';
import { limitNames, type LimitName, type Limits } from './protocol/limits.js';

export type { Limits, LimitName } from './protocol/limits.js';

/**
 * Merges a client's partial limits over defaults. Every bad value is refused, naming the field:
 * it never silently means "no limit" or "the maximum".
 */
export function resolveLimits(
  requested: Partial<Record<LimitName, unknown>> | undefined,
  defaults: Limits,
  maximums: Limits,
  field = 'limits',
): Limits {
  const out: Record<LimitName, number> = { ...defaults };
  if (requested === undefined) return out;
  for (const name of limitNames) {
    const value = requested[name];
    if (value === undefined) continue;
    out[name] = checkLimit(`${field}.${name}`, value, maximums[name]);
  }
  return out;
}

/** One limit value: a whole number from 1 to the maximum. */
export function checkLimit(field: string, value: unknown, maximum: number): number {
  if (typeof value !== 'number') throw invalidParams(field, value, `must be a number from 1 to ${maximum}`);
  if (!Number.isFinite(value)) throw invalidParams(field, value, `must be finite (at most ${maximum})`);
  if (!Number.isInteger(value)) throw invalidParams(field, value, `must be a whole number from 1 to ${maximum}`);
  if (value <= 0) throw invalidParams(field, value, `must be at least 1 (a limit of zero or less is not "no limit")`);
  if (value > maximum) throw invalidParams(field, value, `exceeds the maximum ${maximum}`);
  return value;
}
