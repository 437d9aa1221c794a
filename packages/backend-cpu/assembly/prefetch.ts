// WebAssembly has no prefetch instruction, so the row kernels read ahead by hand: one byte
// of every cache line of the rows they take next, loaded while the current rows compute.
// The kernels' own loads keep too few DRAM misses in flight, and the hardware prefetcher
// stops at each 4 KiB page; these loads start the next group's misses early. Measured with
// bench/linear-gemv.mjs (q8_0 [2048 x 2048], 267 MB, 2 threads, best of 15 rounds, A/B on the
// same build otherwise): 12.0 -> 13.0 GB/s; q4_k unchanged (8.5 both), its kernel being the
// limit there.

/** Sum of the bytes read ahead: exported (index.ts) so the optimizer cannot drop the loads. */
export let readAheadSink: u32 = 0;

/** Reads one byte of each 64-byte line in [from, min(to, end)). */
export function readAhead(from: usize, to: usize, end: usize): void {
  const stop = min(to, end);
  let s: u32 = 0;
  for (let p = from; p < stop; p += 64) s += load<u8>(p);
  readAheadSink += s;
}
