// What a read(2) into fresh memory costs, and what the first use of its pages costs after it
// (a script, not a test): 1 GiB of a file read into a new shared WebAssembly memory, as a
// backend's weights are, either straight (pages first met by the kernel's copy) or after one
// byte of every page was written from JavaScript (what readFullySync does now); then one byte
// of every page read. Run it on a file of at least 2 GiB that is in the page cache.
//   node bench/page-touch.mjs FILE [plain|touched]
import { openSync, readSync } from 'node:fs';

const [file, mode = 'plain'] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/page-touch.mjs FILE [plain|touched]');
const GIB = 2 ** 30;
const PAGE = 4096;
const mem = new WebAssembly.Memory({ initial: GIB / 65536, maximum: 65536, shared: true });
const u = new Uint8Array(mem.buffer);
const ms = (t) => `${(performance.now() - t).toFixed(0)} ms`;
const fd = openSync(file, 'r');
let t = performance.now();
if (mode === 'touched') {
  for (let p = 0; p < GIB; p += PAGE) u[p] = 0;
  console.log(`${mode}: touching every page first: ${ms(t)}`);
}
t = performance.now();
for (let off = 0; off < GIB; off += 64 * 2 ** 20) readSync(fd, u, off, 64 * 2 ** 20, GIB + off);
console.log(`${mode}: reading 1 GiB: ${ms(t)}`);
t = performance.now();
let sum = 0;
for (let p = 0; p < GIB; p += PAGE) sum += u[p];
console.log(`${mode}: first read of every page afterwards: ${ms(t)} (${sum & 1})`);
