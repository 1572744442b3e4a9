import { execa } from 'execa';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ETC_FILES, type HostFacts } from './policy.js';
import type { LaunchSpec } from './launch.js';

/** What the probe learned about the host: facts for argv, and findings for doctor and initialize. */
export interface HostProbe {
  readonly bwrap: { readonly path: string; readonly version: string } | { readonly error: string };
  readonly python: { readonly executable: string; readonly version: string; readonly prefixes: readonly string[] } | { readonly error: string };
  readonly userns: { readonly ok: boolean; readonly detail: string; readonly fix?: string };
  readonly rootEntries: HostFacts['rootEntries'];
  readonly alternatives: HostFacts['alternatives'];
  readonly etcFiles: readonly string[];
  readonly seccomp: { readonly available: boolean; readonly detail: string };
  readonly runningAsRoot: boolean;
}

/** Finds an executable on PATH, as a shell would, without running a shell. */
export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function probeBwrap(name: string): Promise<HostProbe['bwrap']> {
  const path = which(name);
  if (!path) return { error: `bubblewrap (${name}) is not installed or not on PATH` };
  const run = await execa(path, ['--version'], { reject: false, timeout: 5000 });
  if (run.exitCode !== 0) return { error: `${path} --version failed: ${run.stderr || run.stdout}` };
  return { path: realpathSync(path), version: run.stdout.trim().replace(/^bubblewrap\s+/, '') };
}

/** Resolves the real interpreter once (a pyenv shim costs ~85 ms per spawn) and the prefixes it needs. */
async function probePython(name: string): Promise<HostProbe['python']> {
  const path = which(name);
  if (!path) return { error: `python interpreter ${name} not found` };
  const script = 'import sys,json;print(json.dumps([sys.executable,sys.version.split()[0],sys.prefix,sys.base_prefix]))';
  const run = await execa(path, ['-I', '-c', script], { reject: false, timeout: 10_000 });
  if (run.exitCode !== 0) return { error: `${path} failed to start: ${run.stderr.slice(0, 500)}` };
  const [executable, version, prefix, basePrefix] = JSON.parse(run.stdout) as string[];
  // A virtualenv is found from the path it is started by (bin/python next to pyvenv.cfg): keep that path,
  // whose link resolves inside the sandbox too, since the venv's prefix is bound. Elsewhere, the real file.
  const real = prefix !== basePrefix ? executable! : realpathSync(executable!);
  const prefixes = [...new Set([prefix!, basePrefix!, realpathSync(prefix!), realpathSync(basePrefix!)])];
  return { executable: real, version: version!, prefixes };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Unprivileged user namespaces: the knobs distributions use to turn them off, and how to turn them back on. */
export function probeUserns(read: (path: string) => string | undefined = readText): HostProbe['userns'] {
  const apparmor = read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  if (apparmor === '1') {
    return {
      ok: false,
      detail: 'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1, the Ubuntu 24.04 default)',
      fix: 'install an AppArmor profile that allows userns for bwrap (Ubuntu ships one in the apparmor package as /etc/apparmor.d/bwrap-userns-restrict), or run: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0',
    };
  }
  const debian = read('/proc/sys/kernel/unprivileged_userns_clone');
  if (debian === '0') {
    return { ok: false, detail: 'kernel.unprivileged_userns_clone=0 (older Debian kernels)', fix: 'sudo sysctl -w kernel.unprivileged_userns_clone=1' };
  }
  const max = read('/proc/sys/user/max_user_namespaces');
  if (max === '0') {
    return { ok: false, detail: 'user.max_user_namespaces=0 (RHEL/CentOS default on some releases)', fix: 'sudo sysctl -w user.max_user_namespaces=15000' };
  }
  return { ok: true, detail: `user namespaces enabled (max_user_namespaces=${max ?? 'unknown'})` };
}

/** /etc/alternatives entries that resolve to an existing file under /usr (see HostFacts.alternatives). */
export function probeAlternatives(dir = '/etc/alternatives'): HostFacts['alternatives'] {
  const out: { name: string; target: string }[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    try {
      const target = realpathSync(join(dir, name));
      if (target.startsWith('/usr/') && !name.includes('/')) out.push({ name, target });
    } catch {
      // dangling on the host too: nothing to recreate
    }
  }
  return out;
}

/** /lib, /lib64, /bin, /sbin: symlinks into /usr on merged-/usr systems, real directories elsewhere. */
function probeRootEntries(): HostFacts['rootEntries'] {
  const entries: HostFacts['rootEntries'][number][] = [];
  for (const path of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) entries.push({ path, symlink: readlinkSync(path) });
      else if (stat.isDirectory()) entries.push({ path, dir: true });
    } catch {
      // absent on this host: nothing to recreate
    }
  }
  return entries;
}

function probeSeccomp(): HostProbe['seccomp'] {
  const status = readText('/proc/self/status') ?? '';
  const available = /^Seccomp:\s*\d/m.test(status);
  return { available, detail: available ? 'kernel supports seccomp, but no filter was confirmed in a trial sandbox' : 'kernel does not report seccomp support' };
}

/** All host I/O the sandbox layer needs, done once at start-up. */
export async function probeHost(options: { bwrap: string; python: string }): Promise<HostProbe> {
  const [bwrap, python] = await Promise.all([probeBwrap(options.bwrap), probePython(options.python)]);
  return {
    bwrap,
    python,
    userns: probeUserns(),
    rootEntries: probeRootEntries(),
    alternatives: probeAlternatives(),
    etcFiles: ETC_FILES.filter((file) => existsSync(file)),
    seccomp: probeSeccomp(),
    runningAsRoot: process.getuid?.() === 0,
  };
}

/** What the trial sandbox showed: whether it ran, and whether the seccomp filter answered as it should. */
export type Trial = { readonly ok: true; readonly seccompConfirmed: boolean } | { readonly ok: false; readonly error: string };

/**
 * Inside the trial, four calls whose answers only the filter gives: socket(AF_VSOCK) and io_uring_setup
 * EPERM, ptrace(PTRACE_TRACEME) EPERM (it succeeds unfiltered), clone3 ENOSYS (EINVAL unfiltered).
 */
const TRIAL_CODE = [
  'import ctypes, errno, socket',
  'try:',
  '    socket.socket(40, socket.SOCK_STREAM).close()',
  '    vsock = False',
  'except OSError as e:',
  '    vsock = e.errno == errno.EPERM',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'def fails(nr, want, *args):',
  '    ctypes.set_errno(0)',
  '    return libc.syscall(nr, *args) == -1 and ctypes.get_errno() == want',
  'x64 = __import__("os").uname().machine == "x86_64"',
  'ring = fails(425, errno.EPERM, 1, ctypes.create_string_buffer(120))',
  'trace = fails(101 if x64 else 117, errno.EPERM, 0, 0, 0, 0)',
  'clone3 = fails(435, errno.ENOSYS, None, 0)',
  'print("seccomp=" + ("confirmed" if vsock and ring and trace and clone3 else "absent"))',
].join('\n');

/**
 * Starts one real sandbox with the broker's exact argv, running a few lines of Python instead of the
 * agent. Sysctls only hint (an AppArmor profile can allow bwrap while the restriction is on); this is
 * the proof, and the only ground on which initialize may call the seccomp filter active.
 */
export async function trialSandbox(spec: LaunchSpec, python: string): Promise<Trial> {
  const separator = spec.args.indexOf('--');
  const args = [...spec.args.slice(0, separator + 1), python, '-I', '-c', TRIAL_CODE];
  const run = await execa(spec.file, args, {
    env: spec.env, extendEnv: false, reject: false, timeout: 10_000,
    stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', spec.fd5 ? new Uint8Array(spec.fd5) : 'ignore'],
    ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
  });
  if (run.exitCode === 0) return { ok: true, seccompConfirmed: run.stdout.includes('seccomp=confirmed') };
  const how = run.timedOut ? 'timed out' : run.signal ? `was killed by ${run.signal}` : `exited with code ${run.exitCode}`;
  return { ok: false, error: `a trial sandbox ${how}: ${(run.stderr || run.stdout).trim().slice(0, 1000) || 'no output'}` };
}

/**
 * A unix socket under a directory the operator binds into sandboxes would be reachable from them: a
 * network namespace does not cover path sockets, and a read-only mount does not stop connect(). Walks
 * without following symlinks, up to `limit` entries; `complete` is false when it stopped there.
 */
export function findUnixSockets(root: string, limit = 100_000): { sockets: string[]; complete: boolean } {
  const sockets: string[] = [];
  const stack = [root];
  let seen = 0;
  while (stack.length > 0) {
    const path = stack.pop()!;
    if (++seen > limit) return { sockets, complete: false };
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue; // vanished, or unreadable to the broker: the sandbox uid cannot do better
    }
    if (stat.isSocket()) sockets.push(path);
    else if (stat.isDirectory()) {
      try {
        for (const name of readdirSync(path)) stack.push(join(path, name));
      } catch {
        // unreadable directory
      }
    }
  }
  return { sockets, complete: true };
}
