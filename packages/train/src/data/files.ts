// Reading dataset files with errors that name the file: missing, unreadable, or bad gzip.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** Whether `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a whole file. A gzip file (recognised by its magic bytes 1f 8b, whatever its name) is
 * decompressed, so `x.gz` and `x` load alike. `what` prefixes errors ("idx", "cifar10", ...).
 */
export async function readMaybeGzip(path: string, what: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`${what}: cannot read ${path}: ${(e as Error).message}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (e) {
      throw new Error(`${what}: ${path} starts like gzip (1f 8b) but does not decompress: ${(e as Error).message}`);
    }
  }
  return bytes;
}

/** Sorted entries of a folder, hidden ones (".DS_Store", ".git", ...) left out. */
export async function listVisible(dir: string, what: string): Promise<{ name: string; isDir: boolean }[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${what}: cannot list folder ${dir}: ${(e as Error).message}`);
  }
  const out: { name: string; isDir: boolean }[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    // Follow symlinks: a class folder may be a link to images stored elsewhere.
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name))).isDirectory());
    out.push({ name: e.name, isDir });
  }
  // Code-unit order, not localeCompare: class ids must not depend on the machine's locale.
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
