import type { AgentExecute, AgentFileOut } from './protocol/agent.js';
import type { ExecuteResult } from './protocol/execute.js';
import type { Limits } from './protocol/limits.js';

const MiB = 1024 * 1024;

/**
 * Bounds on files out: the agent collects within them, and the broker checks again what comes back.
 * The total stays well under the control channel's line limit (16 MiB) once base64 adds a third.
 */
export const FILES_OUT = { maxFiles: 100, maxBytes: 8 * MiB, maxDepth: 16, maxEntries: 10_000, timeMs: 1000 } as const;

export type ReturnFiles = NonNullable<AgentExecute['returnFiles']>;

/** Pure: the client's returnFiles → what the agent is asked to collect; undefined collects nothing. */
export function toReturnFiles(requested: boolean | readonly string[] | undefined, limits: Limits): ReturnFiles | undefined {
  if (requested === undefined || requested === false) return undefined;
  return {
    patterns: requested === true ? null : [...requested],
    maxFiles: FILES_OUT.maxFiles,
    maxBytes: FILES_OUT.maxBytes,
    maxFileBytes: Math.min(limits.maxFileBytes, FILES_OUT.maxBytes),
    maxDepth: FILES_OUT.maxDepth,
    maxEntries: FILES_OUT.maxEntries,
    timeMs: FILES_OUT.timeMs,
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Pure: what the sandbox reported, re-checked by the broker, which trusts none of it: a path must be a
 * plain relative one (a client may write files out by these names), content strict base64, sizes
 * measured here, and the count and byte bounds held again. Anything else becomes an error entry.
 */
export function checkFilesOut(entries: readonly AgentFileOut[], bounds: ReturnFiles): NonNullable<ExecuteResult['files']> {
  const out: NonNullable<ExecuteResult['files']> = [];
  let files = 0;
  let total = 0;
  for (const entry of entries) {
    // The agent sends at most maxFiles files, maxFiles refusals and its "and the rest" notes.
    if (out.length >= 2 * bounds.maxFiles + 3) {
      out.push({ path: '.', error: 'the sandbox reported more entries than the bounds allow; the rest are dropped' });
      break;
    }
    // "." names the working directory itself, in a note about the whole search.
    const problem = entry.path === '.' && 'error' in entry ? undefined : pathProblem(entry.path);
    if (problem) {
      out.push({ path: '(invalid)', error: `the sandbox reported an invalid path (${problem}); dropped` });
      continue;
    }
    if ('error' in entry) {
      out.push({ path: entry.path, error: entry.error });
      continue;
    }
    if (entry.content.length % 4 !== 0 || !BASE64.test(entry.content)) {
      out.push({ path: entry.path, error: 'the sandbox sent content that is not base64; dropped' });
      continue;
    }
    const size = Buffer.from(entry.content, 'base64').length;
    if (size > bounds.maxFileBytes || total + size > bounds.maxBytes || files >= bounds.maxFiles) {
      out.push({ path: entry.path, error: `exceeds the files-out bounds (${bounds.maxFiles} files, ${bounds.maxFileBytes} bytes each, ${bounds.maxBytes} in all); dropped` });
      continue;
    }
    files += 1;
    total += size;
    out.push({ path: entry.path, size, content: entry.content });
  }
  return out;
}

function pathProblem(path: string): string | undefined {
  if (path === '') return 'empty';
  if (path.includes('\0')) return 'NUL byte';
  if (path.startsWith('/')) return 'absolute';
  if (path.split('/').some((part) => part === '..' || part === '.' || part === '')) return 'a "..", "." or empty component';
  return undefined;
}
