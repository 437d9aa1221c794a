/**
 * Synchronous reads of a byte range of an open file, the loop every checkpoint reader needs
 * for deferred tensors (whose readers are synchronous): in pieces, since one read call moves at
 * most about 2 GiB, until the range is filled or the file ends.
 */
import { readSync } from 'node:fs';

/** Bytes one read call asks for at most. */
const MAX_READ = 1 << 28;
/** The page size the destination is touched at (4 KiB, the smallest Linux and macOS use on x64 and arm64). */
const PAGE = 4096;

/**
 * Writes one byte of every page of `out` before the read fills it. Where the destination is
 * fresh memory (a backend's WebAssembly memory, just grown), a read(2) into pages never touched
 * from user space left each of them costing about 6 us again on its first use (measured on a
 * 2-core KVM guest, AMD EPYC: 1 GiB read in 3.5-4.7 s, then 1.6 s for the first touch of its
 * pages; touched first, 3.3 s, the read 1.8 s, the next touch 19 ms): the model's first decode
 * steps after loading ran at half speed until every expert had been used once. Touched here,
 * that cost is paid while loading, once, and the pages are ready when the kernels first run
 * (bench/page-touch.mjs; benchmarks/results/2026-12-03-page-touch.txt).
 */
function touchPages(out: Uint8Array, from: number, to: number): void {
  for (let p = from; p < to; p += PAGE) out[p] = 0;
  if (to > from) out[to - 1] = 0;
}

/**
 * Reads `out.length` bytes at `position` of `fd` into `out`; returns how many it read, fewer
 * only when the file ends first (the caller names the file and what was short).
 */
export function readFullySync(fd: number, out: Uint8Array, position: number): number {
  let done = 0;
  while (done < out.length) {
    const want = Math.min(MAX_READ, out.length - done);
    touchPages(out, done, done + want);
    const n = readSync(fd, out, done, want, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
