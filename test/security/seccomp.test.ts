import assert from 'node:assert/strict';
import { startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS: socket families the network namespace does not confine (vsock reaches the hypervisor), and
 * the x32 / i386 ABIs that slip past a filter written for x86-64 only. Run through the real broker.
 */
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

  if (process.arch === 'x64') {
    it('an x32-ABI system call kills the process (SIGSYS: exit 128+31), it does not slip past the filter', async () => {
      const code = 'import ctypes\nprint("before", flush=True)\nr = ctypes.CDLL(None).syscall(0x40000000 | 39)\nprint("after", r)';
      const result = await broker.execute({ code });
      assert.equal(result.status, 'crashed');
      assert.equal(result.stdout, 'before\n');
      assert.equal(result.exitCode, 128 + 31);
    });
  }
});
