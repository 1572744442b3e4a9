import { invalidParams } from './errors.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A relative path that stays inside the working directory: no absolute path, no `..`, no NUL, no empty part. */
export function checkWorkspacePath(field: string, path: string): string {
  if (path.includes('\0')) throw invalidParams(field, path, 'must not contain NUL');
  if (path.startsWith('/')) throw invalidParams(field, path, 'must be relative to the working directory');
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '..') throw invalidParams(field, path, 'must stay inside the working directory (no "..")');
    if (part === '' || part === '.') throw invalidParams(field, path, 'must not have empty or "." components');
  }
  return path;
}

/** Decodes strict base64 (Node's decoder silently skips bad characters; the contract refuses them). */
export function decodeBase64(field: string, content: string): Buffer {
  if (content.length % 4 !== 0 || !BASE64.test(content)) throw invalidParams(field, content, 'must be base64');
  return Buffer.from(content, 'base64');
}

/** Validates the files of one execute against the per-file and total budgets; returns them unchanged. */
export function checkFiles(
  files: readonly { path: string; content: string }[],
  maxFileBytes: number,
  workspaceBytes: number,
): { path: string; content: string }[] {
  let total = 0;
  const seen = new Set<string>();
  return files.map((file, i) => {
    const path = checkWorkspacePath(`params.files.${i}.path`, file.path);
    if (seen.has(path)) throw invalidParams(`params.files.${i}.path`, path, 'appears twice');
    seen.add(path);
    const size = decodeBase64(`params.files.${i}.content`, file.content).length;
    if (size > maxFileBytes) throw invalidParams(`params.files.${i}.content`, `${size} bytes`, `exceeds maxFileBytes ${maxFileBytes}`);
    total += size;
    if (total > workspaceBytes) throw invalidParams(`params.files`, `${total} bytes`, `exceed the working directory's size ${workspaceBytes}`);
    return { path, content: file.content };
  });
}
