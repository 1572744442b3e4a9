/**
 * What a soak may leave on the host (processes, temp dirs, cgroups), told apart from what other brokers on
 * the same host own: a snapshot before the broker starts, then the same look at settle and after close.
 */
import { readFileSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runtimeDirOf } from '../../test/helpers/procs.js';
import { childrenOf, isIdleWarmSandbox, scanHost, subtree, type HostProc } from '../../test/security/harness.js';

const TEMP_PREFIXES = ['pycell-', 'pycellweak-'];

function tempDirs(): Set<string> {
  try {
    // Directories only: other programs (a fuzz test's /tmp/pycell-fuzz-*.bin) may leave files with the prefix.
    return new Set(readdirSync('/tmp', { withFileTypes: true }).filter((e) => e.isDirectory() && TEMP_PREFIXES.some((p) => e.name.startsWith(p))).map((e) => join('/tmp', e.name)));
  } catch {
    return new Set();
  }
}

/** The pid named in a runtime dir's owner file, or undefined. */
function ownerOf(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'owner'), 'utf8').trim().split(' ')[0]);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** cgroup directories named after this broker (pycell-<pid>-*), anywhere under /sys/fs/cgroup. */
export function cgroupsOf(brokerPid: number): string[] {
  const prefix = `pycell-${brokerPid}-`;
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let names: Dirent[];
    try {
      names = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of names) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith(prefix)) found.push(path);
      else if (depth < 5) walk(path, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

export const describeProc = (p: HostProc): string => `pid ${p.pid} uid ${p.uid} ppid ${p.ppid} ${p.comm}: ${p.cmdline.slice(0, 140)}`;

export class HostWatch {
  // As root every sandbox process runs as a uid of the range (one per live sandbox); otherwise as the
  // broker's own uid, which says nothing: then only command lines (runtime dir, daemon tag) are checked.
  readonly asRoot = process.getuid?.() === 0;
  /** Replaced when the broker reports another range than the one asked for. */
  uids: { readonly first: number; readonly count: number };
  private readonly daemonTag: string;
  private readonly tempBefore: Set<string>;
  /** pid:startTime, so that a recycled pid is still a new process. */
  readonly procsBefore: Set<string>;

  constructor(uids: { readonly first: number; readonly count: number }, daemonTag: string) {
    this.uids = uids;
    this.daemonTag = daemonTag;
    this.tempBefore = tempDirs();
    this.procsBefore = new Set([...scanHost().values()].filter((p) => this.inRange(p.uid)).map((p) => `${p.pid}:${p.startTime}`));
  }

  private inRange(uid: number): boolean {
    return this.asRoot && uid >= this.uids.first && uid < this.uids.first + this.uids.count;
  }

  private isNew(p: HostProc): boolean {
    return !this.procsBefore.has(`${p.pid}:${p.startTime}`);
  }

  /** This broker's private runtime dir: the new /tmp/pycell-* dir whose owner file names it. */
  runtimeDir(brokerPid: number): string | null {
    const dir = [...tempDirs()].find((d) => !this.tempBefore.has(d) && ownerOf(d) === brokerPid) ?? null;
    return dir ?? runtimeDirOf(brokerPid)?.replace(/\/agent$/, '') ?? null;
  }

  /**
   * Once the pool settled every sandbox process left must belong to an idle warm sandbox. Sandboxes are
   * torn down asynchronously, so this looks again for up to 3 s before it names the strays.
   */
  async straysAtSettle(brokerPid: number): Promise<HostProc[]> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const host = scanHost();
      const children = childrenOf(host);
      const warm = new Set<number>();
      for (const sandbox of children.get(brokerPid) ?? []) {
        const tree = subtree(sandbox.pid, host, children);
        if (isIdleWarmSandbox(tree)) tree.forEach((p) => warm.add(p.pid));
      }
      const mine = new Set(subtree(brokerPid, host, children).map((p) => p.pid));
      const strays = [...host.values()].filter((p) => !warm.has(p.pid) && p.pid !== brokerPid && this.isNew(p)
        && (this.inRange(p.uid) || p.cmdline.includes(this.daemonTag) || (!this.asRoot && mine.has(p.pid))));
      if (strays.length === 0 || Date.now() > deadline) return strays;
      await sleep(100);
    }
  }

  /** After close: anything of the uid range, the daemon tag or the runtime dir is a leak. */
  leakedProcesses(runtimeDir: string | null): HostProc[] {
    return [...scanHost().values()].filter((p) => p.pid !== process.pid && this.isNew(p)
      && (this.inRange(p.uid) || p.cmdline.includes(this.daemonTag) || (runtimeDir !== null && p.cmdline.includes(runtimeDir))));
  }

  /** New pycell temp dirs: leaked when this broker (or its sandboxes) made them, foreign when another broker did. */
  leakedTempDirs(brokerPid: number, runtimeDir: string | null): { leaked: string[]; foreign: string[] } {
    const after = tempDirs();
    const leaked: string[] = [];
    const foreign: string[] = [];
    for (const dir of after) {
      if (this.tempBefore.has(dir)) continue;
      const name = dir.slice('/tmp/'.length);
      if (name.startsWith('pycellweak-')) {
        // No owner file: a weak-mode dir is told apart by who owns it on disk.
        let uid = -1;
        try {
          uid = statSync(dir).uid;
        } catch {
          continue; // gone meanwhile
        }
        if (uid === 0 || this.inRange(uid)) leaked.push(dir);
        else foreign.push(dir);
      } else {
        const owner = ownerOf(dir);
        if (owner !== undefined && owner !== brokerPid) foreign.push(dir);
        else leaked.push(dir);
      }
    }
    if (runtimeDir && after.has(runtimeDir) && !leaked.includes(runtimeDir)) leaked.push(runtimeDir);
    return { leaked, foreign };
  }
}
