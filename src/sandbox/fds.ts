import { closeSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

/**
 * Closes the descriptors this process inherited without close-on-exec (fd 3 and up). bubblewrap passes
 * every open fd into the sandbox and Node cannot mark an fd close-on-exec, so an fd the broker's parent
 * leaked (a shell's stray pipe, an open secret file) would reach user code. Node opens all of its own
 * fds close-on-exec; they are left alone. Returns the fds it closed, with what they pointed at.
 */
export function closeInheritedFds(): { fd: number; target: string }[] {
  const closed: { fd: number; target: string }[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd < 3) continue;
    let flags: number;
    let target: string;
    try {
      flags = parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1] ?? '', 8);
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the listing's own fd, closed by now
    }
    if (Number.isNaN(flags) || (flags & O_CLOEXEC) !== 0) continue;
    closeSync(fd);
    closed.push({ fd, target });
  }
  return closed;
}
