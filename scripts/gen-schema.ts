import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ErrorCode, errorDescriptions } from '../src/errors.js';
import { agentCompleteSchema, agentCompletionSchema, agentDisplaySchema, agentExecuteSchema, agentInputReplySchema, agentInputSchema, agentReadySchema, agentResultSchema, serverCleanedSchema, serverEndedSchema } from '../src/protocol/agent.js';
import { limitJsonShape, partialLimitsSchema } from '../src/protocol/limits.js';
import { allMethods } from '../src/protocol/methods.js';

/** The repository root; this file runs as dist/scripts/gen-schema.js. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SCHEMA_DIR = 'protocol/schema';
export const ERRORS_FILE = 'protocol/errors.json';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Marks a z.undefined() union member ("params may be omitted"), which JSON Schema cannot express; removed below. */
const OMITTED = '$pycell:omitted';

/** Keyword order in the emitted files: identity, then type, then constraints, then structure. */
const KEYWORD_ORDER = [
  '$schema', '$id', '$ref', 'title', 'description', '$comment', 'type', 'const', 'enum', 'format', 'pattern',
  'minLength', 'maxLength', 'minimum', 'exclusiveMinimum', 'maximum', 'exclusiveMaximum', 'multipleOf',
  'items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems',
  'properties', 'required', 'additionalProperties', 'propertyNames', 'patternProperties',
  'anyOf', 'oneOf', 'allOf', 'not', 'default', 'examples', '$defs',
];
/** Objects whose keys are names chosen by the schema, not keywords: their order is the source order. */
const NAME_MAPS = new Set(['properties', 'patternProperties', '$defs', 'dependentSchemas']);

/** The wire view of one limit: the zod schema takes unknown so that resolveLimits can name the field and value. */
const limitJson = {
  ...stripDialect(z.toJSONSchema(limitJsonShape) as JsonObject),
  description: 'at most the connection\'s maximum (initialize → capabilities.limits.maximums); see protocol/README.md#limits',
};

/** Zod → JSON Schema with pycell's two documented adjustments (limit values, omittable params). */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output', title: string, description: string): JsonObject {
  const raw = z.toJSONSchema(schema, {
    io,
    unrepresentable: ({ zodSchema }) => (zodSchema._zod.def.type === 'undefined' ? { [OMITTED]: true } : 'throw'),
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema !== partialLimitsSchema) return;
      for (const name of Object.keys(jsonSchema.properties ?? {})) jsonSchema.properties![name] = { ...limitJson };
    },
  }) as JsonObject;
  const { $schema, ...rest } = dropOmitted(raw) as JsonObject;
  return canonical({ $schema: $schema ?? null, title, ...(rest.description === undefined ? { description } : {}), ...rest }) as JsonObject;
}

/** Every generated file, path relative to the repository root → exact text. Pure: nothing is read or written. */
export function makeProtocolFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const put = (name: string, value: Json): void => void files.set(`${SCHEMA_DIR}/${name}`, render(value));
  for (const m of allMethods) {
    const base = m.method.replaceAll('/', '.');
    put(`${base}.params.json`, toJsonSchema(m.params, 'input', `${m.method} params`, `${m.summary} (${m.kind}, ${m.direction})`));
    // A notification has no response, so it has no result schema.
    if (m.kind === 'request') put(`${base}.result.json`, toJsonSchema(m.result, 'output', `${m.method} result`, m.summary));
  }
  const agent: [string, z.ZodType, 'input' | 'output', string][] = [
    ['ready', agentReadySchema, 'input', 'agent → broker, once, when the agent can take a run'],
    ['execute', agentExecuteSchema, 'output', 'broker → agent: a run (the one run of a single-use worker, or the next in a session)'],
    ['input', agentInputSchema, 'input', 'agent → broker: input() or getpass() in an interactive run, waiting for input_reply'],
    ['input_reply', agentInputReplySchema, 'output', 'broker → agent: the answer to an input message (null: end of input)'],
    ['complete', agentCompleteSchema, 'output', 'broker → agent, session mode, between runs: completion at a cursor'],
    ['completion', agentCompletionSchema, 'input', 'agent → broker: the answer to complete (untrusted, bounded)'],
    ['display', agentDisplaySchema, 'input', 'agent → broker: display(obj) during a run'],
    ['result', agentResultSchema, 'input', 'agent → broker: how the run ended, as the agent saw it (untrusted)'],
    ['ended', serverEndedSchema, 'input', 'fork server → broker on fd 7, process mode: the run\'s process ended and every other process of the run is gone'],
    ['cleaned', serverCleanedSchema, 'input', 'fork server → broker on fd 7, process mode: the sandbox is clean again (or the problem), and the next run\'s process is forked'],
  ];
  for (const [name, schema, io, summary] of agent) put(`agent.${name}.json`, toJsonSchema(schema, io, `agent ${name}`, `${summary}; see protocol/agent.md`));
  files.set(ERRORS_FILE, render(makeErrorTable()));
  return files;
}

/** protocol/errors.json: every code the broker answers with, in src/errors.ts order. */
export function makeErrorTable(): { code: number; name: string; description: string }[] {
  return (Object.keys(ErrorCode) as (keyof typeof ErrorCode)[]).map((name) => ({ code: ErrorCode[name], name, description: errorDescriptions[name] }));
}

/** 2-space indent and a trailing newline, so the files diff cleanly. */
export function render(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Paths (relative to the root) whose content differs from what the generator makes, plus stale schema files. */
export function staleFiles(root = ROOT): string[] {
  const wanted = makeProtocolFiles();
  const stale: string[] = [];
  for (const [path, text] of wanted) if (readOrUndefined(join(root, path)) !== text) stale.push(path);
  for (const name of listJson(join(root, SCHEMA_DIR))) if (!wanted.has(`${SCHEMA_DIR}/${name}`)) stale.push(`${SCHEMA_DIR}/${name}`);
  return stale;
}

/** Writes every file and removes schema files nothing generates any more. */
export function writeProtocolFiles(root = ROOT): string[] {
  const wanted = makeProtocolFiles();
  mkdirSync(join(root, SCHEMA_DIR), { recursive: true });
  for (const name of listJson(join(root, SCHEMA_DIR))) if (!wanted.has(`${SCHEMA_DIR}/${name}`)) rmSync(join(root, SCHEMA_DIR, name));
  for (const [path, text] of wanted) if (readOrUndefined(join(root, path)) !== text) writeFileSync(join(root, path), text);
  return [...wanted.keys()];
}

function canonical(value: Json | undefined, inNameMap = false): Json {
  if (Array.isArray(value)) return value.map((item) => canonical(item));
  if (value === null || typeof value !== 'object') return value ?? null;
  const keys = Object.keys(value);
  if (!inNameMap) keys.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((key) => [key, canonical(value[key], !inNameMap && NAME_MAPS.has(key))]));
}

function rank(key: string): number {
  const index = KEYWORD_ORDER.indexOf(key);
  return index < 0 ? KEYWORD_ORDER.length : index;
}

/** Removes the OMITTED members of anyOf (collapsing a single survivor) and says in words that params may be left out. */
function dropOmitted(value: Json): Json {
  if (Array.isArray(value)) return value.map(dropOmitted);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dropOmitted(v)]));
  const anyOf = out.anyOf;
  if (!Array.isArray(anyOf) || !anyOf.some(isOmitted)) return out;
  const rest = anyOf.filter((item) => !isOmitted(item));
  delete out.anyOf;
  const note = 'params may also be left out of the message, which JSON Schema cannot express';
  const merged: JsonObject = rest.length === 1 ? { ...out, ...(rest[0] as JsonObject) } : { ...out, anyOf: rest };
  merged.$comment = note;
  return merged;
}

function isOmitted(value: Json): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && value[OMITTED] === true;
}

function stripDialect(schema: JsonObject): JsonObject {
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function listJson(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.json')).sort();
  } catch {
    return [];
  }
}

/** `node dist/scripts/gen-schema.js` writes; `--check` only reports drift (exit 1), for CI. */
function main(argv: readonly string[]): number {
  if (argv.includes('--check')) {
    const stale = staleFiles();
    for (const path of stale) process.stderr.write(`gen-schema: ${path} is out of date; run npm run build\n`);
    return stale.length === 0 ? 0 : 1;
  }
  const written = writeProtocolFiles();
  process.stderr.write(`gen-schema: ${written.length} files in protocol/ up to date\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main(process.argv.slice(2));
