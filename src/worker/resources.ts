import type { Logger } from 'pino';
import { SandboxCgroup, type CgroupLayout, type CgroupLimits } from '../sandbox/cgroups.js';
import type { LaunchSpec } from '../sandbox/launch.js';
import type { UidPool } from '../sandbox/uids.js';

let nextCgroup = 1;

/**
 * What one sandbox holds on the host besides its processes: a uid of its own (root broker) and a cgroup
 * (when the host offers them). Taken before the spawn, given back once every process has ended.
 */
export class SandboxResources {
  readonly spec: LaunchSpec;
  readonly cgroup: SandboxCgroup | undefined;
  /** Why the sandbox cannot be held as it must: the worker is then killed as a start failure. */
  problem: string | undefined;
  private readonly uid: number | undefined;

  constructor(spec: LaunchSpec, private readonly options: { readonly uids?: UidPool; readonly cgroups?: CgroupLayout; readonly log: Logger }) {
    this.uid = spec.user && options.uids ? options.uids.acquire() : undefined;
    this.spec = this.uid === undefined ? spec : { ...spec, user: { uid: this.uid, gid: this.uid } };
    try {
      this.cgroup = options.cgroups ? new SandboxCgroup(options.cgroups, `pycell-${process.pid}-${nextCgroup++}`) : undefined;
    } catch (error) {
      this.problem = `cannot make the sandbox's cgroup: ${(error as Error).message}`;
    }
  }

  /**
   * Moves processes into the cgroup. Right after the spawn for bwrap itself (it may fork before this
   * lands), and again for the whole tree at ready, before any user code runs; idle limits then too.
   */
  async join(pids: Iterable<number>, limits?: CgroupLimits): Promise<void> {
    try {
      await this.cgroup?.join([...pids]);
      if (limits) this.cgroup?.limit(limits);
    } catch (error) {
      this.problem ??= `cannot move the sandbox into its cgroup: ${(error as Error).message}`;
    }
  }

  /** Once the sandbox's processes are gone. The kernel may still be reaping the last ones: retry a little. */
  release(tries = 5): void {
    if (this.uid !== undefined) this.options.uids?.release(this.uid);
    this.removeCgroup(tries);
  }

  private removeCgroup(tries: number): void {
    if (!this.cgroup || this.cgroup.dispose()) return;
    if (tries > 0) setTimeout(() => this.removeCgroup(tries - 1), 200).unref();
    else this.options.log.warn('could not remove a sandbox cgroup: processes are still in it');
  }
}
