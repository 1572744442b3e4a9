import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { probe, randomTag, startBroker, waitFor, type SecurityBroker } from './harness.js';

/**
 * THREATS: TCP to host loopback services; abstract unix sockets (shared whenever the network namespace
 * is); raw/netlink/vsock families; DNS. Issue 2: the network namespace is unshared (network "none").
 */
describe('security: no network from the sandbox', function () {
  this.timeout(30_000);
  let broker: SecurityBroker;
  let tcp: Server;
  let tcpConnections = 0;
  const sockets = new Set<import('node:net').Socket>();
  let udp: UdpSocket;
  let udpMessages = 0;
  let abstract: ChildProcess;
  let abstractOutput = '';
  const abstractName = `pycell-test-${randomTag()}`;

  before(async () => {
    tcp = createServer((socket) => {
      tcpConnections++;
      sockets.add(socket);
      socket.end('HOST-TCP-SERVICE\n');
    });
    await new Promise<void>((resolve) => tcp.listen(0, '0.0.0.0', resolve)); // loopback and every host address
    udp = createSocket('udp4');
    udp.on('message', () => udpMessages++);
    await new Promise<void>((resolve) => udp.bind(0, '0.0.0.0', resolve));
    // node cannot bind abstract unix sockets: a small host python3 listener does, and reports each accept.
    const listener = String.raw`
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind('\0' + sys.argv[1])
s.listen(16)
print('READY', flush=True)
while True:
    c, _ = s.accept()
    print('ACCEPTED', flush=True)
    try:
        c.sendall(b'HOST-ABSTRACT-SERVICE\n')
    except OSError:
        pass
    c.close()
`;
    abstract = spawn('/usr/bin/python3', ['-I', '-c', listener, abstractName], { stdio: ['ignore', 'pipe', 'inherit'] });
    abstract.stdout!.on('data', (chunk: Buffer) => (abstractOutput += chunk.toString()));
    assert.ok(await waitFor(() => abstractOutput.includes('READY'), 5000), 'the abstract socket listener did not start');
    broker = await startBroker();
  });
  after(async () => {
    await broker?.close();
    for (const socket of sockets) socket.destroy();
    tcp?.close();
    udp?.close();
    abstract?.kill('SIGKILL');
  });

  it('initialize reports network "none" with a net namespace', () => {
    assert.equal(broker.init.capabilities.isolation.network, 'none');
    assert.ok(broker.init.capabilities.isolation.namespaces.includes('net'));
  });

  it('cannot connect to a TCP service of the host, on loopback or on any host address', async () => {
    const port = (tcp.address() as AddressInfo).port;
    const hostAddresses = Object.values(networkInterfaces()).flat().filter((a) => a && a.family === 'IPv4').map((a) => a!.address);
    const targets = [...new Set(['127.0.0.1', '127.0.0.2', '0.0.0.0', ...hostAddresses])];
    const code = String.raw`
import socket
out = {}
for host in TARGETS:
    try:
        s = socket.create_connection((host, PORT), timeout=2)
        out[host] = 'CONNECTED: ' + s.recv(100).decode('latin1')
        s.close()
    except OSError as e:
        out[host] = e.errno if e.errno is not None else repr(e)
emit(out)
`.replace('TARGETS', JSON.stringify(targets)).replace('PORT', String(port));
    const before = tcpConnections;
    const { data } = await probe<Record<string, number | string>>(broker, code);
    const connected = Object.entries(data).filter(([, v]) => typeof v !== 'number');
    assert.deepEqual(connected, [], `reached the host TCP service: ${JSON.stringify(data)}`);
    assert.equal(tcpConnections, before, 'the host service saw a connection');
    // Control: the service is really there for a host client.
    const { connect } = await import('node:net');
    const client = connect(port, '127.0.0.1');
    sockets.add(client);
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
    assert.ok(await waitFor(() => tcpConnections === before + 1, 2000), 'control connection was not counted');
  });

  it('cannot send UDP to the host', async () => {
    const port = udp.address().port;
    const code = String.raw`
import socket, time
out = {}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for host in ('127.0.0.1', '0.0.0.0'):
    try:
        out[host] = s.sendto(b'HELLO-FROM-SANDBOX', (host, PORT))
    except OSError as e:
        out[host] = 'errno %d' % e.errno
time.sleep(0.2)
emit(out)
`.replace('PORT', String(port));
    await probe(broker, code); // sending into the sandbox's own lo may "succeed": what matters is the host got nothing
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(udpMessages, 0, 'the host UDP socket received a datagram from the sandbox');
  });

  it('sees no interface but lo', async () => {
    // if_nameindex() needs an AF_NETLINK socket, which the seccomp filter refuses; /proc/net/dev lists the namespace's interfaces.
    const code = "import socket\ntry:\n    ifs = [n for _, n in socket.if_nameindex()]\nexcept PermissionError:\n    ifs = ['lo']\nemit({'ifs': ifs, 'dev': [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]})";
    const { data } = await probe<{ ifs: string[]; dev: string[] }>(broker, code);
    assert.deepEqual(data.ifs, ['lo']);
    assert.deepEqual(data.dev, ['lo']);
  });

  it('DNS resolution fails, and so does a direct query to a public resolver', async () => {
    const code = String.raw`
import socket
out = {}
for name in ('example.com', 'localhost.localdomain', 'github.com'):
    try:
        out[name] = socket.getaddrinfo(name, 443)[0][4][0]
    except socket.gaierror as e:
        out[name] = 'gaierror %d' % e.errno
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
query = b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01'
for resolver in ('8.8.8.8', '1.1.1.1'):
    try:
        s.sendto(query, (resolver, 53))
        s.settimeout(1)
        out[resolver] = 'ANSWER %r' % s.recv(512)[:20]
    except OSError as e:
        out[resolver] = 'errno %s' % e.errno
emit(out)
`;
    const { data } = await probe<Record<string, string>>(broker, code);
    for (const name of ['example.com', 'github.com']) assert.match(data[name]!, /^gaierror/, `${name} resolved: ${data[name]}`);
    for (const resolver of ['8.8.8.8', '1.1.1.1']) assert.equal(data[resolver], 'errno 101', `${resolver}: ${data[resolver]}`); // ENETUNREACH
  });

  it('cannot reach an abstract unix socket bound on the host', async () => {
    const code = String.raw`
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.connect('\0' + NAME)
    out = 'CONNECTED: ' + s.recv(100).decode('latin1')
except OSError as e:
    out = e.errno
emit({'connect': out})
`.replace('NAME', JSON.stringify(abstractName));
    const acceptedBefore = abstractOutput.split('ACCEPTED').length;
    const { data } = await probe<{ connect: number | string }>(broker, code);
    assert.equal(data.connect, 111, `connect to the host's abstract socket: ${data.connect}`); // ECONNREFUSED: no such name here
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(abstractOutput.split('ACCEPTED').length, acceptedBefore, 'the host listener accepted a connection');
    // Control: a host client does reach it.
    const control = spawn('/usr/bin/python3', ['-I', '-c', `import socket\ns=socket.socket(socket.AF_UNIX)\ns.connect('\\0' + ${JSON.stringify(abstractName)})\nprint(s.recv(100))`], { stdio: 'ignore' });
    await new Promise((resolve) => control.once('exit', resolve));
    assert.ok(await waitFor(() => abstractOutput.split('ACCEPTED').length === acceptedBefore + 1, 2000), 'control connection was not accepted');
  });

  it('cannot open raw/packet sockets', async () => {
    const code = String.raw`
import socket
out = {}
for name, fam, typ, proto in [('packet', socket.AF_PACKET, socket.SOCK_RAW, 0), ('raw_icmp', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), ('raw_tcp', socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)]:
    try:
        socket.socket(fam, typ, proto).close()
        out[name] = 'CREATED'
    except OSError as e:
        out[name] = e.errno
emit(out)
`;
    const { data } = await probe(broker, code);
    assert.deepEqual(data, { packet: 1, raw_icmp: 1, raw_tcp: 1 }); // EPERM: no CAP_NET_RAW
  });

  it('cannot open AF_VSOCK sockets (vsock is not covered by the network namespace; the hypervisor is CID 2)', async () => {
    // Only socket(2) is tried: nothing connects anywhere.
    const code = String.raw`
import socket, os
try:
    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
    out = 'CREATED'
except OSError as e:
    out = e.errno
emit({'vsock': out, 'hostHasVsock': HOST_HAS})
`.replace('HOST_HAS', (await import('node:fs')).existsSync('/dev/vsock') ? 'True' : 'False');
    const { data } = await probe<{ vsock: number | string; hostHasVsock: boolean }>(broker, code);
    assert.notEqual(data.vsock, 'CREATED', `an AF_VSOCK socket was created inside the sandbox (host /dev/vsock present: ${data.hostHasVsock}); vsock connections are not confined by --unshare-net`);
  });
});
