import { readFileSync, readdirSync } from 'node:fs';
import { sweep, treeOf } from '../../src/monitor/procfs.js';

/** The command line of a process, or '' when it is gone. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Every host process whose command line contains the text. */
export function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid !== process.pid && cmdline(pid).includes(text)) out.push(pid);
  }
  return out;
}

/**
 * The private runtime directory a broker binds into its sandboxes (unique per broker), read off the
 * command line of one of its bubblewrap children. Every process of that broker's sandboxes names it.
 */
export function runtimeDirOf(brokerPid: number): string | undefined {
  for (const stat of treeOf(brokerPid, sweep())) {
    const match = /--ro-bind (\/\S+\/agent) \/pycell\/agent/.exec(cmdline(stat.pid));
    if (match) return match[1];
  }
  return undefined;
}

export async function waitFor(check: () => boolean, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  return check();
}
