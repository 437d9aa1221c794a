import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng, readFullySync } from '../src/index.js';

describe('readFullySync', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-file-read-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const rng = createRng(29);
  // Three pages and a bit, seeded random bytes (never zero-filled: the pages it touches are zeroed first).
  const bytes = Uint8Array.from({ length: 3 * 4096 + 517 }, () => 1 + rng.int(255));
  const file = join(dir, 'data.bin');
  writeFileSync(file, bytes);

  it('fills a destination that starts and ends inside pages with exactly the file bytes at the position', () => {
    const fd = openSync(file, 'r');
    try {
      for (const [position, length] of [[0, bytes.length], [123, 4096 * 2 + 77], [4095, 2], [bytes.length - 1, 1]] as const) {
        const out = Uint8Array.from({ length }, () => rng.int(256));
        expect(readFullySync(fd, out, position)).toBe(length);
        expect(Buffer.from(out).equals(Buffer.from(bytes.subarray(position, position + length)))).toBe(true);
      }
    } finally {
      closeSync(fd);
    }
  });

  it('returns the bytes it read when the file ends first, with those bytes right', () => {
    const fd = openSync(file, 'r');
    try {
      const out = new Uint8Array(600);
      expect(readFullySync(fd, out, bytes.length - 100)).toBe(100);
      expect(Buffer.from(out.subarray(0, 100)).equals(Buffer.from(bytes.subarray(bytes.length - 100)))).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});
