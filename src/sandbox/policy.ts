/** Where things live inside every sandbox. */
export const SANDBOX_AGENT_DIR = '/pycell/agent';
export const SANDBOX_WORKDIR = '/tmp';
export const SANDBOX_HOSTNAME = 'pycell';

/** What the sandbox is allowed to see and use: plain data, projected onto bwrap argv by toBwrapArgv. */
export interface SandboxPolicy {
  readonly network: 'none' | 'host';
  readonly workspaceBytes: number;
  readonly shmBytes: number;
  /** Extra read-only host directories chosen by the operator: host path → sandbox path. */
  readonly extraReadOnly: readonly { readonly source: string; readonly dest: string }[];
  /** single: one run; session: many runs, one namespace; process: a fork server, a fresh process per run. */
  readonly mode: 'single' | 'session' | 'process';
  /** Advisory, enforced by the agent's import hook: never a boundary. Absent or empty: no policy. */
  readonly modulePolicy?: { readonly deny: readonly string[]; readonly allow: readonly string[] | null };
}

/** Host facts, probed once at start-up. toBwrapArgv reads nothing else. */
export interface HostFacts {
  /** Real interpreter path (symlinks resolved) and the prefixes it needs bound when they lie outside /usr. */
  readonly python: { readonly executable: string; readonly prefixes: readonly string[] };
  /** Top-level entries such as /lib: a symlink (merged /usr) is recreated, a directory is bound read-only. */
  readonly rootEntries: readonly ({ readonly path: string; readonly symlink: string } | { readonly path: string; readonly dir: true })[];
  /**
   * Debian's /etc/alternatives links that resolve to files under /usr (libblas.so.3 → openblas, which numpy
   * needs): recreated as symlinks to their resolved targets, so no host /etc is bound.
   */
  readonly alternatives?: readonly { readonly name: string; readonly target: string }[];
  /** Which of ETC_FILES exist on the host: bound read-only at the same path. */
  readonly etcFiles?: readonly string[];
  /** Host directory holding a copy of python-agent/, readable by the sandbox uid. */
  readonly agentDir: string;
  /** The compiled seccomp filter for this machine's architecture, or undefined where none is known. */
  readonly seccomp?: Buffer;
}

/**
 * The only host /etc files a sandbox sees: world-readable configuration that installed Python packages
 * cannot start without (Debian's matplotlib keeps its matplotlibrc there; fontconfig its fonts.conf).
 * Nothing with secrets or accounts.
 */
export const ETC_FILES: readonly string[] = ['/etc/matplotlibrc', '/etc/fonts'];

/** The descriptor bubblewrap reads the seccomp filter from (right after the agent's 0-4; bwrap closes it). */
export const SECCOMP_FD = 5;

/** The environment inside the sandbox, and the one bwrap itself is started with (its init shows it in /proc/1/environ). */
export const sandboxEnv: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: SANDBOX_WORKDIR,
  TMPDIR: SANDBOX_WORKDIR,
  LANG: 'C.UTF-8',
});
