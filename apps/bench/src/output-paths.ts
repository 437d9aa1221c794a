/**
 * Output files are checked before the run, as `--compare` is read before it: a path that
 * cannot be written must fail in a second with a message naming the flag, not after minutes
 * of benchmarking with the results lost.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '@moe-runtime/core';

/** Throws a ConfigError naming `flag` when `file` could not be created or overwritten. */
export function checkWritable(flag: string, file: string): void {
  const path = resolve(file);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new ConfigError(flag, `${path} is a folder; expected a file path`);
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      throw new ConfigError(flag, `cannot write ${path}: ${(err as Error).message}`);
    }
    return;
  }
  // The nearest existing ancestor must be a writable folder (missing folders are created).
  let dir = dirname(path);
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) throw new ConfigError(flag, `cannot write ${path}: ${dir} is a file, not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new ConfigError(flag, `cannot write ${path}: ${(err as Error).message}`);
  }
}
