/**
 * Memory of a process and its descendants, read from /proc: VmRSS and VmHWM (status) and Pss
 * (smaps_rollup, which shares pages out among the processes mapping them, so it sums honestly).
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcMemory {
  readonly pid: number;
  readonly comm: string;
  readonly rssMb: number;
  readonly hwmMb: number;
  readonly pssMb: number;
}

const MB = 1024 * 1024;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
}

function kbField(text: string | undefined, field: string): number {
  const match = text?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return match ? (Number(match[1]) * 1024) / MB : 0;
}

export function memoryOf(pid: number): ProcMemory | undefined {
  const status = read(`/proc/${pid}/status`);
  if (status === undefined) return undefined;
  const comm = status.match(/^Name:\s+(.*)$/m)?.[1] ?? '?';
  return { pid, comm, rssMb: kbField(status, 'VmRSS'), hwmMb: kbField(status, 'VmHWM'), pssMb: kbField(read(`/proc/${pid}/smaps_rollup`), 'Pss') };
}

/** The parent of every process now alive, from /proc/PID/stat (field 4, after the parenthesised comm). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = read(`/proc/${entry}/stat`);
    if (stat === undefined) continue;
    out.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  return out;
}

export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents()) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Processes of one kind (by comm) under a root: how many, and the median of each measure per process. */
export interface ProcGroup {
  readonly comm: string;
  readonly count: number;
  readonly rssMb: number;
  readonly hwmMb: number;
  readonly pssMb: number;
  readonly maxRssMb: number;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

export function groupsUnder(root: number): ProcGroup[] {
  const byComm = new Map<string, ProcMemory[]>();
  for (const memory of descendantsOf(root).map(memoryOf)) {
    if (memory) byComm.set(memory.comm, [...(byComm.get(memory.comm) ?? []), memory]);
  }
  return [...byComm].map(([comm, list]) => ({
    comm,
    count: list.length,
    rssMb: median(list.map((m) => m.rssMb)),
    hwmMb: median(list.map((m) => m.hwmMb)),
    pssMb: median(list.map((m) => m.pssMb)),
    maxRssMb: Math.max(...list.map((m) => m.rssMb)),
  }));
}
