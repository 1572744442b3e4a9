import { readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxCgroup, type CgroupLayout } from './cgroups.js';

/** Finding, proving and cleaning up the cgroups the broker may use: host I/O, once at start-up. */

/** Pure: a cgroup's host directory from /proc/self/cgroup and /proc/self/mountinfo, per controller. */
export function locateCgroups(selfCgroup: string, mountinfo: string): { v2?: string; memory?: string; pids?: string } {
  const mounts = mountinfo.split('\n').map((line) => {
    const [left = '', right = ''] = line.split(' - ');
    const fields = left.split(' ');
    const [fstype = '', , options = ''] = right.split(' ');
    return { root: fields[3] ?? '/', point: fields[4] ?? '', fstype, options: options.split(',') };
  });
  const under = (mount: { root: string; point: string }, path: string): string | undefined => {
    if (mount.root !== '/' && path !== mount.root && !path.startsWith(`${mount.root}/`)) return undefined;
    const dir = join(mount.point, mount.root === '/' ? path : path.slice(mount.root.length));
    return dir.length > 1 ? dir.replace(/\/$/, '') : dir;
  };
  const out: { v2?: string; memory?: string; pids?: string } = {};
  for (const line of selfCgroup.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers = '', path = '/'] = match;
    if (id === '0' && controllers === '') {
      const mount = mounts.find((m) => m.fstype === 'cgroup2');
      if (mount) out.v2 = under(mount, path);
      continue;
    }
    for (const controller of ['memory', 'pids'] as const) {
      if (!controllers.split(',').includes(controller)) continue;
      const mount = mounts.find((m) => m.fstype === 'cgroup' && m.options.includes(controller));
      if (mount) out[controller] = under(mount, path);
    }
  }
  return out;
}

/** Which layout this host offers to this process, proven by making, limiting and removing a trial cgroup. */
export function probeCgroups(read = (path: string) => readFileSync(path, 'utf8')): { layout?: CgroupLayout; detail: string } {
  let found;
  try {
    found = locateCgroups(read('/proc/self/cgroup'), read('/proc/self/mountinfo'));
  } catch (error) {
    return { detail: `cannot read this process's cgroups: ${(error as Error).message}` };
  }
  const problems: string[] = [];
  const candidates: CgroupLayout[] = [];
  if (found.v2) {
    const controllers = (() => {
      try {
        return read(join(found.v2, 'cgroup.controllers')).trim().split(/\s+/);
      } catch {
        return [];
      }
    })();
    if (controllers.includes('memory') && controllers.includes('pids')) candidates.push({ kind: 'v2', parent: found.v2 });
    else problems.push(`cgroup v2 at ${found.v2} lacks the memory and pids controllers (has: ${controllers.join(' ') || 'none'})`);
  }
  if (found.memory && found.pids) candidates.push({ kind: 'v1', memory: found.memory, pids: found.pids });
  else if (!found.v2) problems.push('no cgroup v2 hierarchy and no cgroup v1 memory + pids hierarchies');
  for (const layout of candidates) {
    const problem = tryLayout(layout);
    if (!problem) return { layout, detail: describe(layout) };
    problems.push(problem);
  }
  return { detail: problems.join('; ') };
}

export function describe(layout: CgroupLayout): string {
  return layout.kind === 'v2'
    ? `cgroup v2 under ${layout.parent}: memory.max, memory.swap.max=0 and pids.max per sandbox`
    : `cgroup v1 under ${layout.memory} and ${layout.pids}: memory.limit_in_bytes, memory.memsw.limit_in_bytes (no swap) and pids.max per sandbox`;
}

function tryLayout(layout: CgroupLayout): string | undefined {
  if (layout.kind === 'v2') {
    try {
      // Children get controllers only from the parent's subtree_control.
      writeFileSync(join(layout.parent, 'cgroup.subtree_control'), '+memory +pids');
    } catch (error) {
      return `cgroup v2 at ${layout.parent}: cannot enable memory and pids for child cgroups (${(error as Error).message}); a delegated cgroup whose own processes live in a leaf is needed`;
    }
  }
  const name = `pycell-${process.pid}-probe`;
  let cgroup: SandboxCgroup | undefined;
  try {
    cgroup = new SandboxCgroup(layout, name);
    cgroup.limit({ memoryBytes: 64 * 1024 * 1024, tasks: 8 });
    return undefined;
  } catch (error) {
    return `${layout.kind === 'v2' ? 'cgroup v2' : 'cgroup v1'}: cannot make and limit a cgroup (${(error as Error).message})`;
  } finally {
    cgroup?.dispose();
  }
}

/** Cgroups of brokers that died without removing them (SIGKILL): empty ones are removed at start-up. */
export function removeStaleCgroups(layout: CgroupLayout, alive: (pid: number) => boolean): number {
  let removed = 0;
  const parents = layout.kind === 'v2' ? [layout.parent] : [layout.memory, layout.pids];
  for (const parent of parents) {
    let names: string[] = [];
    try {
      names = readdirSync(parent).filter((n) => /^pycell-\d+-/.test(n));
    } catch {
      continue;
    }
    for (const name of names) {
      if (alive(Number(name.split('-')[1]))) continue;
      try {
        rmdirSync(join(parent, name));
        removed++;
      } catch {
        // still holds processes, or not ours to remove
      }
    }
  }
  return removed;
}
