import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeErrorTable, ROOT, SCHEMA_DIR } from '../../scripts/gen-schema.js';
import { statuses } from '../../src/protocol/execute.js';
import { limitNames } from '../../src/protocol/limits.js';
import { allMethods } from '../../src/protocol/methods.js';

const README = readFileSync(join(ROOT, 'protocol/README.md'), 'utf8');

/** The lines of one `## Title` section. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `protocol/README.md has no section "${title}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

describe('protocol/README.md', () => {
  it('renders errors.json as its error table, row for row', () => {
    const rows = section('Errors').split('\n').filter((line) => /^\| -\d+ \|/.test(line));
    const expected = makeErrorTable().map((e) => `| ${e.code} | ${e.name} | ${e.description} |`);
    assert.deepEqual(rows, expected);
  });

  it('documents every wire method and links every generated schema file', () => {
    for (const m of allMethods) assert.ok(README.includes(`\`${m.method}\``), `${m.method} is not documented`);
    for (const name of readdirSync(join(ROOT, SCHEMA_DIR)).filter((n) => n.endsWith('.json') && !n.startsWith('agent.'))) {
      assert.ok(README.includes(`(schema/${name})`), `schema/${name} is not linked`);
    }
  });

  it('documents every status and every limit', () => {
    const results = section('ExecuteResult');
    for (const status of statuses) assert.ok(results.includes(`| \`${status}\` |`), `status ${status} has no row`);
    const limits = section('Limits');
    for (const name of limitNames) assert.ok(limits.includes(`| \`${name}\` |`), `limit ${name} has no row`);
  });

  it('links only files that exist', () => {
    for (const [, target] of README.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)) {
      assert.ok(existsSync(join(ROOT, 'protocol', target!)), `broken link: ${target}`);
    }
  });
});
