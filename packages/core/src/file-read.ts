/**
 * Synchronous reads of a byte range of an open file, the loop every checkpoint reader needs
 * for deferred tensors (whose readers are synchronous): in pieces, since one read call moves at
 * most about 2 GiB, until the range is filled or the file ends.
 */
import { readSync } from 'node:fs';

/** Bytes one read call asks for at most. */
const MAX_READ = 1 << 28;

/**
 * Reads `out.length` bytes at `position` of `fd` into `out`; returns how many it read, fewer
 * only when the file ends first (the caller names the file and what was short).
 */
export function readFullySync(fd: number, out: Uint8Array, position: number): number {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, Math.min(MAX_READ, out.length - done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
