/**
 * Temporary folders for tests, removed when their test file ends: {@link tempDir} makes one
 * and remembers it, {@link removeTempDirs} deletes every one made since (a vitest setup file
 * registers it with `afterAll`, so each test file cleans up after itself). Folders left behind
 * pile up on a machine that runs CI again and again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/** A fresh folder under the system's temporary folder, named `prefix` plus random characters. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Deletes every folder {@link tempDir} made (and what it holds) since the last call. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
