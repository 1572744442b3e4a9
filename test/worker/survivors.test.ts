import assert from 'node:assert/strict';
import { sandboxSurvivors } from '../../src/worker/survivors.js';

/** A /proc of files: children lists and status lines, keyed by path; anything else is ENOENT. */
function procOf(files: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
}

// Host pids: bwrap's init 100, the fork server 101 (pid 3 inside), the next run's process 102 (pid 9 inside).
const SERVER = 101;
const clean = {
  '/proc/101/task/101/children': '102 ',
  '/proc/102/status': 'Name:\tpython3\nNSpid:\t102\t9\n',
  '/proc/101/status': 'Name:\tpython3\nPPid:\t100\nNSpid:\t101\t3\n',
  '/proc/100/task/100/children': '101 ',
};

describe('sandboxSurvivors: the broker\'s own look at a process-mode sandbox after a run', () => {
  const rows: { name: string; files: Record<string, string>; next: number; expected: string | undefined }[] = [
    { name: 'only the announced next process under the server, only the server under init', files: clean, next: 9, expected: undefined },
    { name: 'a survivor beside the next process', files: { ...clean, '/proc/101/task/101/children': '102 130 ' }, next: 9, expected: 'processes survived the run: 102 130 (expected only the next run\'s process)' },
    { name: 'the one child is not the process the server named', files: clean, next: 8, expected: 'processes survived the run: 102 (expected only the next run\'s process)' },
    { name: 'no child at all (the server did not fork the next run\'s process)', files: { ...clean, '/proc/101/task/101/children': '' }, next: 9, expected: 'processes survived the run:  (expected only the next run\'s process)' },
    { name: 'a process beside the server under bwrap\'s init', files: { ...clean, '/proc/100/task/100/children': '101 140 ' }, next: 9, expected: 'processes beside the fork server: 140' },
    { name: 'the server is gone', files: { '/proc/101/task/101/children': '102 ', '/proc/102/status': 'NSpid:\t102\t9\n' }, next: 9, expected: 'cannot look at the sandbox: ENOENT: /proc/101/status' },
  ];
  for (const { name, files, next, expected } of rows) {
    it(name, () => assert.equal(sandboxSurvivors(SERVER, next, procOf(files)), expected));
  }

  it('an unreadable /proc is a problem, never a pass', () => {
    assert.match(sandboxSurvivors(SERVER, 9, procOf({})) ?? '', /^cannot look at the sandbox: ENOENT/);
  });
});
