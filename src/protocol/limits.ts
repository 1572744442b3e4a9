import { z } from 'zod';

/** Limit names, in the order the contract lists them. */
export const limitNames = ['timeoutMs', 'cpuMs', 'memoryBytes', 'maxProcesses', 'maxOutputBytes', 'maxFileBytes'] as const;
export type LimitName = (typeof limitNames)[number];
export type Limits = Readonly<Record<LimitName, number>>;

const MiB = 1024 * 1024;

/** The contract's defaults: 10 s wall, 10 s CPU, 256 MiB, 32 processes, 1 MiB output, 16 MiB per file. */
export const defaultLimits: Limits = {
  timeoutMs: 10_000,
  cpuMs: 10_000,
  memoryBytes: 256 * MiB,
  maxProcesses: 32,
  maxOutputBytes: 1 * MiB,
  maxFileBytes: 16 * MiB,
};

/** Ceilings an operator gets unless they set their own; a client can never go past them. */
export const defaultMaximums: Limits = {
  timeoutMs: 300_000,
  cpuMs: 300_000,
  memoryBytes: 4096 * MiB,
  maxProcesses: 256,
  maxOutputBytes: 64 * MiB,
  maxFileBytes: 1024 * MiB,
};

/**
 * A single limit on the wire: a positive safe integer. Range checks against the connection's
 * maximums happen in resolveLimits, which names the field and the value.
 */
const limitValue = z.unknown();

/** Partial<Limits> as received: unknown keys are refused, values are checked by resolveLimits. */
export const partialLimitsSchema = z.strictObject(
  Object.fromEntries(limitNames.map((name) => [name, limitValue.optional()])) as Record<LimitName, z.ZodOptional<z.ZodUnknown>>,
);

/** JSON Schema view of one limit, for protocol/schema. */
export const limitJsonShape = z.number().int().positive();
export const limitsSchema = z.strictObject(
  Object.fromEntries(limitNames.map((name) => [name, limitJsonShape])) as Record<LimitName, typeof limitJsonShape>,
);
