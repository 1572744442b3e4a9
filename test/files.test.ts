import assert from 'node:assert/strict';
import { checkFiles, checkWorkspacePath, decodeBase64 } from '../src/files.js';
import { throwsInvalid } from './helpers/assertions.js';


const b64 = (text: string): string => Buffer.from(text).toString('base64');

describe('files checkWorkspacePath', () => {
  const f = 'params.files.0.path';
  const good = ['a.txt', 'dir/a.txt', 'a/b/c/d.py', '.hidden', '..x', 'a..b', 'x/...', 'name with spaces', 'ünï/cödé.py', 'C:\\x'];
  for (const path of good) it(`accepts ${JSON.stringify(path)}`, () => assert.equal(checkWorkspacePath(f, path), path));

  const DOTDOT = 'must stay inside the working directory (no "..")';
  const RELATIVE = 'must be relative to the working directory';
  const EMPTY = 'must not have empty or "." components';
  const NUL = 'must not contain NUL';
  const bad: [path: string, why: string, shown: string][] = [
    ['../x', DOTDOT, '"../x"'],
    ['..', DOTDOT, '".."'],
    ['a/../../x', DOTDOT, '"a/../../x"'],
    ['a/..', DOTDOT, '"a/.."'],
    ['/etc/x', RELATIVE, '"/etc/x"'],
    ['/', RELATIVE, '"/"'],
    ['/../x', RELATIVE, '"/../x"'],
    ['a\0b', NUL, '"a\\u0000b"'],
    ['../\0', NUL, '"../\\u0000"'],
    ['', EMPTY, '""'],
    ['a//b', EMPTY, '"a//b"'],
    ['a/', EMPTY, '"a/"'],
    ['./a', EMPTY, '"./a"'],
    ['a/./b', EMPTY, '"a/./b"'],
    ['.', EMPTY, '"."'],
  ];
  for (const [path, why, shown] of bad) {
    it(`refuses ${JSON.stringify(path)}`, () => throwsInvalid(() => checkWorkspacePath(f, path), `${f}: ${why} (received ${shown})`, { field: f, value: path }));
  }
});

describe('files decodeBase64', () => {
  const f = 'params.files.0.content';
  const good: [content: string, bytes: number[]][] = [
    ['', []],
    ['aGk=', [0x68, 0x69]],
    ['YQ==', [0x61]],
    ['YWJj', [0x61, 0x62, 0x63]],
    ['+/8=', [0xfb, 0xff]],
    ['AAAA', [0, 0, 0]],
  ];
  for (const [content, bytes] of good) it(`decodes ${JSON.stringify(content)}`, () => assert.deepEqual([...decodeBase64(f, content)], bytes));

  // Node's decoder would skip or tolerate all of these; the contract says base64, so they are refused.
  const bad = ['aGk', 'aGk==', 'aG=k', 'a===', '====', 'aG k', 'aGk=\n', '-_8=', 'aGk!', 'Y'];
  for (const content of bad) {
    it(`refuses ${JSON.stringify(content)}`, () => throwsInvalid(() => decodeBase64(f, content), `${f}: must be base64 (received ${JSON.stringify(content)})`, { field: f, value: content }));
  }
});

describe('files checkFiles', () => {
  it('no files → []', () => assert.deepEqual(checkFiles([], 10, 10), []));

  it('returns good files unchanged, in order', () => {
    const files = [{ path: 'a.txt', content: b64('hello') }, { path: 'd/b.bin', content: '' }, { path: 'd/c', content: b64('x') }];
    assert.deepEqual(checkFiles(files, 5, 6), files);
  });

  it('a file of exactly maxFileBytes and a total of exactly the workspace are accepted', () => {
    const files = [{ path: 'a', content: b64('12345') }, { path: 'b', content: b64('12345') }];
    assert.deepEqual(checkFiles(files, 5, 10), files);
  });

  const bad: { name: string; files: { path: string; content: string }[]; max: number; workspace: number; message: string; data: { field: string; value: unknown } }[] = [
    {
      name: 'a bad path names its index', files: [{ path: 'ok', content: '' }, { path: '../x', content: '' }], max: 10, workspace: 10,
      message: 'params.files.1.path: must stay inside the working directory (no "..") (received "../x")', data: { field: 'params.files.1.path', value: '../x' },
    },
    {
      name: 'a duplicate path', files: [{ path: 'a/b', content: '' }, { path: 'c', content: '' }, { path: 'a/b', content: b64('x') }], max: 10, workspace: 10,
      message: 'params.files.2.path: appears twice (received "a/b")', data: { field: 'params.files.2.path', value: 'a/b' },
    },
    {
      name: 'bad base64 names its index', files: [{ path: 'a', content: 'YQ==' }, { path: 'b', content: 'YQ=' }], max: 10, workspace: 10,
      message: 'params.files.1.content: must be base64 (received "YQ=")', data: { field: 'params.files.1.content', value: 'YQ=' },
    },
    {
      name: 'one byte over maxFileBytes', files: [{ path: 'a', content: b64('123456') }], max: 5, workspace: 100,
      message: 'params.files.0.content: exceeds maxFileBytes 5 (received "6 bytes")', data: { field: 'params.files.0.content', value: '6 bytes' },
    },
    {
      name: 'one byte over the workspace in total', files: [{ path: 'a', content: b64('12345') }, { path: 'b', content: b64('123456') }], max: 6, workspace: 10,
      message: 'params.files: exceed the working directory\'s size 10 (received "11 bytes")', data: { field: 'params.files', value: '11 bytes' },
    },
  ];
  for (const row of bad) it(`refuses ${row.name}`, () => throwsInvalid(() => checkFiles(row.files, row.max, row.workspace), row.message, row.data));
});
