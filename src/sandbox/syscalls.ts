/**
 * System call numbers the seccomp filter names, per architecture, copied from the kernel's uapi headers
 * (asm/unistd_64.h for x86-64; asm-generic/unistd.h for aarch64). A name missing on an architecture
 * (iopl, ioperm, uselib on aarch64) is not a system call there.
 */
export type SyscallTable = Readonly<Record<string, number>>;

/** Denied with EPERM: each reaches past the namespaces (ptrace, keyrings, mounts, modules…) or is root's business. */
export const DENIED: readonly string[] = [
  // other processes' memory
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd', 'kcmp',
  // kernel keyrings are not namespaced
  'add_key', 'request_key', 'keyctl',
  // large kernel attack surfaces
  'bpf', 'perf_event_open', 'userfaultfd',
  // operations inside a ring are invisible to seccomp
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  // the whole mount API
  'mount', 'umount2', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'open_tree_attr', 'mount_setattr', 'pivot_root', 'chroot',
  // new namespaces (clone's namespace flags are checked separately)
  'unshare', 'setns',
  // the machine itself
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'swapoff', 'acct',
  'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex', 'syslog', 'vhangup', 'quotactl', 'quotactl_fd', 'lookup_dcookie',
  // file handles bypass path lookup (the "shocker" container escape)
  'name_to_handle_at', 'open_by_handle_at',
  // x86 port I/O and old a.out loading
  'iopl', 'ioperm', 'uselib',
  // SysV shared memory and message queues: RAM that no RSS, tmpfs or memfd count shows, sized by the IPC
  // namespace, not by the sandbox (Python's multiprocessing uses POSIX shm in /dev/shm instead). SysV
  // semaphores and POSIX message queues too: like them they outlive every process, so in process mode one
  // run could leave data in them for the next (multiprocessing's locks are POSIX semaphores in /dev/shm)
  'shmget', 'msgget', 'semget', 'mq_open',
];

/** The calls checked by argument, not by number alone. */
export const CHECKED = ['clone', 'clone3', 'socket', 'socketpair', 'ioctl', 'personality'] as const;

export const X86_64: SyscallTable = {
  ptrace: 101, process_vm_readv: 310, process_vm_writev: 311, pidfd_getfd: 438, kcmp: 312,
  add_key: 248, request_key: 249, keyctl: 250,
  bpf: 321, perf_event_open: 298, userfaultfd: 323,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
  mount: 165, umount2: 166, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428,
  open_tree_attr: 467, mount_setattr: 442, pivot_root: 155, chroot: 161,
  unshare: 272, setns: 308,
  kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313, delete_module: 176, reboot: 169,
  swapon: 167, swapoff: 168, acct: 163,
  settimeofday: 164, clock_settime: 227, clock_adjtime: 305, adjtimex: 159, syslog: 103, vhangup: 153, quotactl: 179,
  quotactl_fd: 443, lookup_dcookie: 212,
  name_to_handle_at: 303, open_by_handle_at: 304,
  iopl: 172, ioperm: 173, uselib: 134,
  shmget: 29, msgget: 68, semget: 64, mq_open: 240,
  clone: 56, clone3: 435, socket: 41, socketpair: 53, ioctl: 16, personality: 135,
};

export const AARCH64: SyscallTable = {
  ptrace: 117, process_vm_readv: 270, process_vm_writev: 271, pidfd_getfd: 438, kcmp: 272,
  add_key: 217, request_key: 218, keyctl: 219,
  bpf: 280, perf_event_open: 241, userfaultfd: 282,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
  mount: 40, umount2: 39, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428,
  open_tree_attr: 467, mount_setattr: 442, pivot_root: 41, chroot: 51,
  unshare: 97, setns: 268,
  kexec_load: 104, kexec_file_load: 294, init_module: 105, finit_module: 273, delete_module: 106, reboot: 142,
  swapon: 224, swapoff: 225, acct: 89,
  settimeofday: 170, clock_settime: 112, clock_adjtime: 266, adjtimex: 171, syslog: 116, vhangup: 58, quotactl: 60,
  quotactl_fd: 443, lookup_dcookie: 18,
  name_to_handle_at: 264, open_by_handle_at: 265,
  shmget: 194, msgget: 186, semget: 190, mq_open: 180,
  clone: 220, clone3: 435, socket: 198, socketpair: 199, ioctl: 29, personality: 92,
};
