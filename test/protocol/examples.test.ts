import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ERRORS_FILE, ROOT, staleFiles } from '../../scripts/gen-schema.js';
import { ErrorCode } from '../../src/errors.js';
import { checkFiles } from '../../src/files.js';
import { resolveLimits } from '../../src/limits.js';
import { agentCompleteSchema, agentCompletionSchema, agentDisplaySchema, agentExecuteSchema, agentInputReplySchema, agentInputSchema, agentReadySchema, agentResultSchema, serverCleanedSchema, serverEndedSchema } from '../../src/protocol/agent.js';
import { defaultLimits, defaultMaximums } from '../../src/protocol/limits.js';
import { allMethods } from '../../src/protocol/methods.js';

const CLIENT_DIR = join(ROOT, 'protocol/examples/client');
const AGENT_DIR = join(ROOT, 'protocol/examples/agent');

const idSchema = z.union([z.string(), z.number().int()]);
const errorCodes = new Set((JSON.parse(readFileSync(join(ROOT, ERRORS_FILE), 'utf8')) as { code: number }[]).map((e) => e.code));

/** Client-hop messages that are JSON-RPC's or LSP's own rather than pycell methods. */
const extraMethods = new Map<string, { method: string; kind: 'request' | 'notification'; params: z.ZodType }>([
  ['cancel', { method: '$/cancelRequest', kind: 'notification', params: z.strictObject({ id: idSchema }) }],
]);

/** Agent-hop examples are named after the message type (`result-ok.json` is a result). */
const agentSchemas = new Map<string, z.ZodType>([
  ['ready', agentReadySchema],
  ['execute', agentExecuteSchema],
  ['display', agentDisplaySchema],
  ['result', agentResultSchema],
  ['input', agentInputSchema],
  ['input_reply', agentInputReplySchema],
  ['complete', agentCompleteSchema],
  ['completion', agentCompletionSchema],
  ['ended', serverEndedSchema],
  ['cleaned', serverCleanedSchema],
]);

const errorSchema = z.strictObject({
  jsonrpc: z.literal('2.0'),
  id: idSchema.nullable(),
  error: z.strictObject({
    code: z.number().int().refine((code) => errorCodes.has(code), 'code is not listed in protocol/errors.json'),
    message: z.string().min(1),
    data: z.record(z.string(), z.unknown()).optional(),
  }),
});

function readJson(dir: string, name: string): unknown {
  return JSON.parse(readFileSync(join(dir, name), 'utf8'));
}

function listJson(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.json')).sort();
}

/** Parses with the schema and requires nothing to be dropped or changed on the way (no stray keys in a golden file). */
function assertExact(schema: z.ZodType, value: unknown, what: string): void {
  const parsed = schema.safeParse(value);
  assert.ok(parsed.success, `${what}: ${parsed.error?.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  assert.deepEqual(parsed.data, value, `${what}: the schema dropped or changed something`);
}

/** `<method with / as .>.<request|response|notification>[.<variant>].json`, or `error.<name>.json`. */
function checkClientMessage(file: string, message: unknown): void {
  const parts = file.replace(/\.json$/, '').split('.');
  if (parts[0] === 'error') {
    assertExact(errorSchema, message, file);
    const { error } = message as z.infer<typeof errorSchema>;
    if (error.code === ErrorCode.InvalidParams) {
      assert.equal(typeof error.data?.field, 'string', `${file}: -32602 must name the field in data.field`);
      assert.ok(error.data && 'value' in error.data, `${file}: -32602 must carry the value received in data.value`);
    }
    return;
  }
  // A method may itself end in a kind word (input/request → input.request.request.json): take the split that names a method.
  const kinds = parts.map((p, i) => (p === 'request' || p === 'response' || p === 'notification' ? i : -1)).filter((i) => i > 0);
  const at = kinds.find((i) => { const prefix = parts.slice(0, i).join('.'); return extraMethods.has(prefix) || allMethods.some((m) => m.method.replaceAll('/', '.') === prefix); }) ?? kinds[0] ?? -1;
  assert.ok(at > 0, `${file}: name must be <method>.<request|response|notification>[.variant].json or error.<name>.json`);
  const kind = parts[at] as 'request' | 'response' | 'notification';
  const prefix = parts.slice(0, at).join('.');
  const method = extraMethods.get(prefix) ?? allMethods.find((m) => m.method.replaceAll('/', '.') === prefix);
  assert.ok(method, `${file}: no wire method is named ${prefix}`);
  const envelope = message as Record<string, unknown>;
  if (kind === 'response') {
    assert.equal(method.kind, 'request', `${file}: ${method.method} is a notification; it has no response`);
    assertExact(z.strictObject({ jsonrpc: z.literal('2.0'), id: idSchema, result: z.unknown() }), message, file);
    assertExact((method as (typeof allMethods)[number]).result, envelope.result, `${file} result`);
    return;
  }
  assert.equal(method.kind, kind, `${file}: ${method.method} is a ${method.kind}`);
  const shape = kind === 'request'
    ? z.strictObject({ jsonrpc: z.literal('2.0'), id: idSchema, method: z.literal(method.method), params: z.unknown().optional() })
    : z.strictObject({ jsonrpc: z.literal('2.0'), method: z.literal(method.method), params: z.unknown().optional() });
  assertExact(shape, message, file);
  // Absent params are what a client sends for shutdown/exit; the method's schema decides whether that is allowed.
  assert.ok(method.params.safeParse(envelope.params).success, `${file}: params do not match ${method.method}'s schema`);
  if (envelope.params !== undefined) assertExact(method.params, envelope.params, `${file} params`);
  checkBeyondSchema(envelope.params as { limits?: Record<string, unknown>; files?: { path: string; content: string }[] } | undefined);
}

/** What the zod params leave to the handlers (limit values, file paths and base64), checked the way the broker does. */
function checkBeyondSchema(params: { limits?: Record<string, unknown>; files?: { path: string; content: string }[] } | undefined): void {
  const limits = resolveLimits(params?.limits, defaultLimits, defaultMaximums, 'params.limits');
  if (params?.files) checkFiles(params.files, limits.maxFileBytes, 64 * 1024 * 1024);
}

function checkAgentMessage(file: string, message: unknown): void {
  const type = file.replace(/\.json$/, '').split(/[-.]/)[0]!;
  const schema = agentSchemas.get(type);
  assert.ok(schema, `${file}: no agent message type ${type} (expected one of ${[...agentSchemas.keys()].join(', ')})`);
  assertExact(schema, message, file);
  assert.equal((message as { type: string }).type, type, `${file}: type field does not match the file name`);
}

describe('protocol/examples', () => {
  for (const [dir, check] of [[CLIENT_DIR, checkClientMessage], [AGENT_DIR, checkAgentMessage]] as const) {
    const name = dir.slice(ROOT.length);
    describe(name, () => {
      const files = listJson(dir);
      it('is not empty', () => assert.ok(files.length > 0, `${name} has no examples`));
      for (const file of files) it(file, () => check(file, readJson(dir, file)));
    });
  }
});

describe('protocol/schema', () => {
  it('equals what scripts/gen-schema.ts generates from the zod schemas now', () => {
    assert.deepEqual(staleFiles(), [], 'the committed protocol files drifted from src/; run npm run build and commit protocol/');
  });
});
