import assert from 'node:assert/strict';
import { startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS: socket families the network namespace does not confine (vsock reaches the hypervisor), and
 * the x32 / i386 ABIs that slip past a filter written for x86-64 only. Run through the real broker.
 */
const SYSCALL = [
  'import ctypes, errno, os',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'libc.syscall.restype = ctypes.c_long',
  'def call(nr, *args):',
  '    ctypes.set_errno(0)',
  '    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])',
  '    return "ok(%d)" % r if r >= 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())',
].join('\n');

describe('security: seccomp filter', function () {
  this.timeout(30_000);
  let broker: SecurityBroker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker?.close());

  it('initialize claims the filter only because a trial sandbox confirmed it', () => {
    assert.equal(broker.init.capabilities.isolation.seccomp.active, true);
  });

  const families: [string, number, number, string][] = [
    ['AF_UNIX', 1, 1, 'ok'],
    ['AF_INET', 2, 1, 'ok'],
    ['AF_INET6', 10, 1, 'ok'],
    ['AF_VSOCK', 40, 1, 'EPERM'],
    ['AF_NETLINK', 16, 2, 'EPERM'],
    ['AF_PACKET', 17, 3, 'EPERM'],
    ['AF_BLUETOOTH', 31, 1, 'EPERM'],
  ];
  for (const [name, family, type, expected] of families) {
    it(`socket(${name}) → ${expected}`, async () => {
      const code = `import socket, errno\ntry:\n    socket.socket(${family}, ${type}).close(); print("ok")\nexcept OSError as e:\n    print(errno.errorcode.get(e.errno, e.errno))`;
      const result = await broker.execute({ code });
      assert.equal(result.stdout, `${expected}\n`);
    });
  }

  it('socketpair(AF_VSOCK) → EPERM too', async () => {
    const result = await broker.execute({ code: 'import socket, errno\ntry:\n    socket.socketpair(40)\nexcept OSError as e:\n    print(errno.errorcode[e.errno])' });
    assert.equal(result.stdout, 'EPERM\n');
  });

  it('io_uring_setup → EPERM: a ring\'s IORING_OP_SOCKET would otherwise make an AF_VSOCK socket past the socket() rule', async () => {
    const code = 'import ctypes, errno\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = libc.syscall(425, 1, ctypes.create_string_buffer(120))\nprint(fd, errno.errorcode.get(ctypes.get_errno()) if fd < 0 else "ring")';
    const result = await broker.execute({ code });
    assert.equal(result.stdout, '-1 EPERM\n');
  });

  // Each call with arguments that an unfiltered kernel answers with something other than EPERM in this
  // sandbox (ok, EFAULT, EINVAL, EBADF, ENOSYS…), so every row fails without the filter (tried once).
  const denied: [string, number, number, string][] = [
    // name, x86-64 nr, aarch64 nr, arguments as Python
    ['ptrace(PTRACE_TRACEME)', 101, 117, '0, 0, 0, 0'],
    ['process_vm_readv(self)', 310, 270, 'os.getpid(), 0, 0, 0, 0, 0'],
    ['kcmp(self, self)', 312, 272, 'os.getpid(), os.getpid(), 0, 0, 0'],
    ['pidfd_getfd', 438, 438, '-1, 0, 0'],
    ['keyctl(GET_KEYRING_ID, session)', 250, 219, '0, -3, 0'],
    ['add_key', 248, 217, '0, 0, 0, 0, 0'],
    ['request_key', 249, 218, '0, 0, 0, 0'],
    ['bpf', 321, 280, '9999, 0, 0'],
    ['perf_event_open', 298, 241, '0, 0, -1, -1, 0'],
    ['mount', 165, 40, '0, 0, 0, 0, 0'],
    ['umount2', 166, 39, '0, 0'],
    ['fsconfig', 431, 431, '-1, 0, 0, 0, 0'],
    ['open_tree', 428, 428, '-1, 0, 0'],
    ['mount_setattr', 442, 442, '-1, 0, 0, 0, 0'],
    ['chroot', 161, 51, '0'],
    ['unshare(0)', 272, 97, '0'],
    ['setns', 308, 268, '-1, 0'],
    ['name_to_handle_at', 303, 264, '-1, 0, 0, 0, 0'],
    ['open_by_handle_at', 304, 265, '-1, 0, 0'],
    ['clock_adjtime', 305, 266, '9999, 0'],
    ['quotactl_fd', 443, 443, '-1, 0, 0, 0'],
    ['personality(ADDR_NO_RANDOMIZE)', 135, 92, '0x0040000'],
    // IPC_PRIVATE, 64 MiB, IPC_CREAT | 0600: SysV memory no RSS shows once detached
    ['shmget(IPC_PRIVATE, 64 MiB)', 29, 194, '0, 64 << 20, 0o1000 | 0o600'],
    ['msgget(IPC_PRIVATE)', 68, 186, '0, 0o1000 | 0o600'],
    // SysV semaphores and POSIX message queues outlive the run's processes: in process mode, a channel to the next run
    ['semget(IPC_PRIVATE, 1)', 64, 190, '0, 1, 0o1000 | 0o600'],
    ['mq_open("q", O_CREAT|O_RDWR)', 240, 180, 'b"q", 0o100 | 2, 0o600, 0'],
  ];
  it(`denied system calls fail with EPERM: ${denied.map(([name]) => name).join(', ')}`, async () => {
    const x64 = process.arch === 'x64';
    const calls = denied.map(([name, a, b, args]) => `    (${JSON.stringify(name)}, ${x64 ? a : b}, (${args},)),`).join('\n');
    const code = `${SYSCALL}\nfor name, nr, args in [\n${calls}\n]:\n    print(name, call(nr, *args))`;
    const result = await broker.execute({ code });
    assert.equal(result.status, 'ok', result.stderr);
    assert.equal(result.stdout, denied.map(([name]) => `${name} EPERM\n`).join(''));
  });

  it('clone3 answers ENOSYS (unfiltered: EINVAL), and fork, threads, subprocess and multiprocessing still work through clone', async () => {
    const code = [
      SYSCALL,
      'print("clone3", call(435, 0, 0))',
      'import subprocess, threading, multiprocessing',
      'pid = os.fork()',
      'if pid == 0: os._exit(7)',
      'print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))',
      'out = []; t = threading.Thread(target=lambda: out.append("thread")); t.start(); t.join(); print(out[0])',
      'print(subprocess.run(["/bin/echo", "spawned"], capture_output=True, text=True).stdout.strip())',
      'with multiprocessing.get_context("fork").Pool(2) as p: print("pool", p.map(abs, [-1, -2]))',
    ].join('\n');
    const result = await broker.execute({ code });
    assert.equal(result.stdout, 'clone3 ENOSYS\nfork 7\nthread\nspawned\npool [1, 2]\n', result.stderr);
  });

  it('clone and unshare with CLONE_NEWUSER fail with EPERM (no nested user namespace, whatever --disable-userns does)', async () => {
    const nr = process.arch === 'x64' ? [56, 272] : [220, 97];
    const code = [
      SYSCALL,
      `r = call(${nr[0]}, 0x10000000 | 17, 0, 0, 0, 0)`,
      'if r == "ok(0)": os._exit(0)  # the child of a clone that should not have happened',
      'print("clone", r)',
      `print("unshare", call(${nr[1]}, 0x10000000))`,
    ].join('\n');
    const result = await broker.execute({ code });
    assert.equal(result.stdout, 'clone EPERM\nunshare EPERM\n', result.stderr);
  });

  it('TIOCSTI and TIOCLINUX on a terminal of its own fail with EPERM, also with junk in the high 32 bits of the request', async () => {
    const nr = process.arch === 'x64' ? 16 : 29;
    const code = [
      SYSCALL,
      'master, slave = os.openpty()',
      'c = ctypes.c_char(b"x")',
      `print("TIOCSTI", call(${nr}, slave, 0x5412, ctypes.addressof(c)))`,
      `print("TIOCSTI high bits", call(${nr}, slave, (1 << 32) | 0x5412, ctypes.addressof(c)))`,
      `print("TIOCLINUX", call(${nr}, slave, 0x541C, ctypes.addressof(c)))`,
      `print("TCGETS", call(${nr}, slave, 0x5401, ctypes.addressof(ctypes.create_string_buffer(64))))`,
    ].join('\n');
    const result = await broker.execute({ code });
    assert.equal(result.stdout, 'TIOCSTI EPERM\nTIOCSTI high bits EPERM\nTIOCLINUX EPERM\nTCGETS ok(0)\n', result.stderr);
  });

  if (process.arch === 'x64') {
    it('an x32-ABI system call kills the process (SIGSYS: exit 128+31), it does not slip past the filter', async () => {
      const code = 'import ctypes\nprint("before", flush=True)\nr = ctypes.CDLL(None).syscall(0x40000000 | 39)\nprint("after", r)';
      const result = await broker.execute({ code });
      assert.equal(result.status, 'crashed');
      assert.equal(result.stdout, 'before\n');
      assert.equal(result.exitCode, 128 + 31);
    });
    it('an i386 system call (int 0x80) kills the process: the i386 ABI is not the native one', async () => {
      const code = [
        'import ctypes, mmap',
        'm = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)',
        'm.write(bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]))  # mov eax, 20 (getpid on i386); int 0x80; ret',
        'f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))',
        'print("before", flush=True)',
        'print("after", f())',
      ].join('\n');
      const result = await broker.execute({ code });
      assert.equal(result.status, 'crashed');
      assert.equal(result.stdout, 'before\n');
      assert.equal(result.exitCode, 128 + 31);
    });
  }
});
