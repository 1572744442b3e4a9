/**
 * The broker's main job on a sample: start `pycell serve` as an outside program would, run a few
 * snippets (one of them hostile) concurrently, and print what came back.
 */
import { spawnBroker } from '../src/client/index.js';

const snippets: Record<string, string> = {
  'arithmetic': 'print(1 + 1)\n6 * 7',
  'an exception': 'def f(x):\n    return 1 / x\nf(0)',
  'streaming output': 'import time\nfor i in range(3):\n    print("tick", i)\n    time.sleep(0.05)',
  'hostile: read host secrets': 'import os\nprint(os.environ.get("DEMO_SECRET"), os.path.exists("/etc/shadow"), os.listdir("/"))',
  'hostile: spin forever': 'while True:\n    pass',
};

const broker = await spawnBroker({ env: { ...process.env, DEMO_SECRET: 'hunter2' }, args: ['--limit', 'timeoutMs=2000'] });
const { isolation, python } = broker.initializeResult.capabilities;
console.log(`pycell ${broker.initializeResult.serverInfo.version}: ${isolation.mode} isolation, bubblewrap ${isolation.bubblewrap?.version ?? '-'}, Python ${python.version}, sandbox uids ${isolation.sandboxUids ? `${isolation.sandboxUids.first}+${isolation.sandboxUids.count}` : '-'}, network ${isolation.network}\n`);
const results = await Promise.all(Object.entries(snippets).map(async ([name, code]) => [name, code, await broker.execute({ code })] as const));
for (const [name, code, result] of results) {
  console.log(`── ${name}\n${code.replace(/^/gm, '   >>> ')}`);
  console.log(`   status: ${result.status}${result.message ? ` (${result.message})` : ''}`);
  if (result.stdout) console.log(`   stdout: ${JSON.stringify(result.stdout)}`);
  if (result.value) console.log(`   value:  ${result.value['text/plain']}`);
  if (result.error) console.log(`   error:  ${result.error.type}: ${result.error.message} (traceback of ${result.error.traceback.length} lines)`);
  console.log(`   usage:  ${result.usage.wallMs.toFixed(1)} ms wall, ${result.usage.cpuMs} ms CPU, ${(result.usage.peakMemoryBytes / 2 ** 20).toFixed(1)} MiB peak\n`);
}
await broker.close();
