import { createHash } from 'node:crypto';
import type { ExecuteParams, ExecuteResult } from '../protocol/execute.js';
import type { Limits } from '../protocol/limits.js';

/** Who asked and under which limits: what the broker knows of an execute besides its params and result. */
export interface ExecutionContext {
  readonly seq: number;
  readonly client: string | undefined;
  readonly limits: Limits | undefined;
  readonly startedAt: number;
}

/**
 * Pure: the structured log record of one execute, as pino fields. The code is identified by its size
 * and SHA-256, never written out (it may hold a user's secrets); nothing of the broker's own
 * environment or configuration appears. `outcome` is the result, or the JSON-RPC error it got instead.
 */
export function executionRecord(params: ExecuteParams, context: ExecutionContext, outcome: { result: ExecuteResult } | { error: { code: number; message: string } }, now: number): Record<string, unknown> {
  const code = Buffer.from(params.code, 'utf8');
  const base = {
    event: 'execution',
    seq: context.seq,
    client: context.client ?? null,
    session: params.session ?? null,
    codeBytes: code.length,
    codeSha256: createHash('sha256').update(code).digest('hex'),
    files: params.files?.length ?? 0,
    limits: context.limits ?? null,
    ms: Math.round((now - context.startedAt) * 1000) / 1000,
  };
  if ('error' in outcome) return { ...base, status: 'refused', error: { code: outcome.error.code, message: outcome.error.message.slice(0, 500) } };
  const { result } = outcome;
  const killed = result.status !== 'ok' && result.status !== 'error';
  return {
    ...base,
    status: result.status,
    ...(killed && result.message ? { kill: result.message } : {}),
    exitCode: result.exitCode,
    signal: result.signal,
    usage: result.usage,
    outputBytes: Buffer.byteLength(result.stdout) + Buffer.byteLength(result.stderr),
    truncated: result.stdoutTruncated || result.stderrTruncated,
    ...(result.audit ? { audit: summarizeAudit(result.audit) } : {}),
  };
}

/** Event name → total count: enough to spot a run that spawned processes or dialled out. */
function summarizeAudit(audit: NonNullable<ExecuteResult['audit']>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of audit.events) out[entry.event] = (out[entry.event] ?? 0) + entry.count;
  if (audit.dropped > 0) out.dropped = audit.dropped;
  return out;
}
