import assert from 'node:assert/strict';
import { probeUserns } from '../../src/sandbox/probe.js';

const APPARMOR = '/proc/sys/kernel/apparmor_restrict_unprivileged_userns';
const DEBIAN = '/proc/sys/kernel/unprivileged_userns_clone';
const MAX = '/proc/sys/user/max_user_namespaces';

/** A host whose /proc/sys files hold these values (absent files read as undefined). */
function host(files: Record<string, string>): { read: (path: string) => string | undefined; asked: string[] } {
  const asked: string[] = [];
  return { asked, read: (path) => (asked.push(path), files[path]) };
}

describe('sandbox/probe probeUserns', () => {
  const refused: [name: string, files: Record<string, string>, detail: RegExp, fix: RegExp][] = [
    ['AppArmor restriction (Ubuntu 24.04)', { [APPARMOR]: '1', [DEBIAN]: '1', [MAX]: '15000' }, /AppArmor.*apparmor_restrict_unprivileged_userns=1.*Ubuntu 24\.04/, /sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0/],
    ['AppArmor restriction wins over every other knob', { [APPARMOR]: '1', [DEBIAN]: '0', [MAX]: '0' }, /apparmor_restrict_unprivileged_userns=1/, /apparmor_restrict_unprivileged_userns=0/],
    ['older Debian kernels', { [APPARMOR]: '0', [DEBIAN]: '0', [MAX]: '15000' }, /unprivileged_userns_clone=0/, /sysctl -w kernel\.unprivileged_userns_clone=1/],
    ['Debian knob without AppArmor', { [DEBIAN]: '0' }, /unprivileged_userns_clone=0/, /sysctl -w kernel\.unprivileged_userns_clone=1/],
    ['no user namespaces allowed (RHEL/CentOS)', { [MAX]: '0' }, /max_user_namespaces=0/, /sysctl -w user\.max_user_namespaces=\d+/],
  ];
  for (const [name, files, detail, fix] of refused) {
    it(`refused: ${name}, with why and how to fix it`, () => {
      const result = probeUserns(host(files).read);
      assert.equal(result.ok, false);
      assert.match(result.detail, detail);
      assert.match(result.fix ?? '', fix);
    });
  }

  const allowed: [name: string, files: Record<string, string>, detail: string][] = [
    ['every knob open', { [APPARMOR]: '0', [DEBIAN]: '1', [MAX]: '15000' }, 'user namespaces enabled (max_user_namespaces=15000)'],
    ['no knob files at all', {}, 'user namespaces enabled (max_user_namespaces=unknown)'],
    ['only the maximum', { [MAX]: '63229' }, 'user namespaces enabled (max_user_namespaces=63229)'],
  ];
  for (const [name, files, detail] of allowed) {
    it(`allowed: ${name}`, () => assert.deepEqual(probeUserns(host(files).read), { ok: true, detail }));
  }

  it('reads exactly the three knobs, in order', () => {
    const h = host({});
    probeUserns(h.read);
    assert.deepEqual(h.asked, [APPARMOR, DEBIAN, MAX]);
  });
});
