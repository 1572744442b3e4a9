import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private copy of python-agent/ that the sandbox uid can read wherever the checkout lives (a checkout
 * under /root is not traversable by nobody). Bound read-only into every sandbox; removed at close.
 */
export interface RuntimeDir {
  readonly path: string;
  readonly agentDir: string;
  dispose(): void;
}

export function makeRuntimeDir(agentSource: string): RuntimeDir {
  const path = mkdtempSync(join(tmpdir(), 'pycell-'));
  const agentDir = join(path, 'agent');
  cpSync(agentSource, agentDir, {
    recursive: true,
    filter: (src) => !/(__pycache__|\/tests)(\/|$)/.test(src.slice(agentSource.length)),
  });
  makeReadable(path);
  return { path, agentDir, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

function makeReadable(path: string): void {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) makeReadable(join(path, name));
  } else {
    chmodSync(path, 0o644);
  }
}
