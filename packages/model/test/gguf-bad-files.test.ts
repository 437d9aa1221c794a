/**
 * Bad GGUF files: each defect is a typed error naming the file and the tensor (or metadata
 * key), raised while the header is checked, before the backend is asked to prepare anything.
 */
import { mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { getBackend, GgufError, MemoryLimitError, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, TextModel } from '../src/index.js';
import { writeTinyGguf } from './gguf-fixtures.js';

let root: string;
let cpu: Backend;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-gguf-bad-'));
  cpu = await getBackend('cpu');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A cpu backend that counts what it is asked to prepare. */
function countingBackend(memory?: Backend['memory']): { backend: Backend; prepared: () => number } {
  let n = 0;
  const backend: Backend = Object.assign(Object.create(cpu) as Backend, {
    memory,
    prepareLinear: async (w: Parameters<Backend['prepareLinear']>[0]) => (n++, cpu.prepareLinear(w)),
    prepareExperts: async (g: Parameters<Backend['prepareExperts']>[0]) => (n++, cpu.prepareExperts(g)),
  });
  return { backend, prepared: () => n };
}

/** Offset of the first byte after a GGUF string (u64 length + bytes) equal to `s` in `buf`. */
function afterString(buf: Buffer, s: string): number {
  const bytes = Buffer.from(s, 'utf8');
  let at = buf.indexOf(bytes);
  while (at >= 8 && buf.readBigUInt64LE(at - 8) !== BigInt(bytes.length)) at = buf.indexOf(bytes, at + 1);
  if (at < 8) throw new Error(`'${s}' not found in the header`);
  return at + bytes.length;
}

/** Rewrites parts of a file's header. */
async function patch(path: string, edit: (buf: Buffer) => void): Promise<void> {
  const buf = await readFile(path);
  edit(buf);
  await writeFile(path, buf);
}

/** Offsets of a tensor info's fields: dims (innermost first), type. */
function tensorFields(buf: Buffer, name: string): { dim0: number; type: number } {
  const p = afterString(buf, name);
  const nDims = buf.readUInt32LE(p);
  return { dim0: p + 4, type: p + 4 + 8 * nDims };
}

async function fresh(name: string, modelType: 'olmoe' | 'qwen3_moe' = 'olmoe'): Promise<string> {
  return (await writeTinyGguf(root, name, { modelType, seed: 70, format: 'q8_0' })).path;
}

/** The error loading `path` throws, after checking that nothing was prepared. */
async function loadError(path: string): Promise<GgufError> {
  const { backend, prepared } = countingBackend();
  const err = await loadModel(path, backend).then(
    () => new Error('loaded'),
    (e: unknown) => e,
  );
  expect(prepared()).toBe(0);
  expect(err).toBeInstanceOf(GgufError);
  return err as GgufError;
}

describe('bad GGUF files', () => {
  it('names a good file first (the fixture itself loads)', async () => {
    const { backend, prepared } = countingBackend();
    const { model } = await loadModel(await fresh('good'), backend);
    expect(prepared()).toBeGreaterThan(0);
    model.dispose();
  });

  it('truncated tensor data: names the tensor whose data runs past the end', async () => {
    const path = await fresh('truncated');
    const size = (await readFile(path)).length;
    await truncate(path, size - 100);
    const err = await loadError(path);
    expect(err.file).toBe('truncated.gguf');
    expect(err.tensor).toBe('output.weight');
    expect(err.message).toMatch(/truncated\.gguf: 'output\.weight': tensor data \(\d+ bytes of q8_0 \[384, 64\]\) ends at byte \d+, but the file has \d+ bytes; it is truncated/);
  });

  it('an unknown type id, and a type ggml knows but this runtime does not read', async () => {
    const path = await fresh('type-unknown');
    await patch(path, (b) => b.writeUInt32LE(99, tensorFields(b, 'blk.0.attn_q.weight').type));
    const err = await loadError(path);
    expect(err.tensor).toBe('blk.0.attn_q.weight');
    expect(err.message).toMatch(/has ggml type 99 \(unknown to ggml\), which this runtime does not read; supported: F32 \(0\), F16 \(1\), BF16 \(30\), Q8_0 \(8\)/);
    const q41 = await fresh('type-q4_1');
    await patch(q41, (b) => b.writeUInt32LE(3, tensorFields(b, 'blk.1.ffn_up_exps.weight').type));
    expect((await loadError(q41)).message).toMatch(/'blk\.1\.ffn_up_exps\.weight': has ggml type 3 \(Q4_1\)/);
  });

  it('a shape that disagrees with the metadata', async () => {
    const path = await fresh('shape');
    await patch(path, (b) => {
      const p = afterString(b, 'olmoe.feed_forward_length');
      expect(b.readUInt32LE(p)).toBe(4); // u32
      b.writeUInt32LE(128, p + 4);
    });
    const err = await loadError(path);
    expect(err.tensor).toBe('blk.0.ffn_gate_exps.weight');
    expect(err.message).toMatch(/has shape \[8, 96, 64\], but the metadata gives \[8, 128, 64\] \(V=384, D=64, H=4, KV=2, hd=16, E=8, F=128\)/);
  });

  it('a missing tensor', async () => {
    const { path } = await writeTinyGguf(root, 'missing', {
      modelType: 'qwen3_moe',
      seed: 71,
      format: 'q8_0',
      edit: (w) => ({ ...w, layers: w.layers.map((l, i) => (i === 1 ? { ...l, attention: { ...l.attention, qNorm: undefined } } : l)) }),
    });
    const err = await loadError(path);
    expect(err.tensor).toBe('blk.1.attn_q_norm.weight');
    expect(err.message).toMatch(/missing; a qwen3moe model with this metadata needs shape \[16\]/);
  });

  it('metadata of the wrong type', async () => {
    const path = await fresh('meta-type');
    await patch(path, (b) => b.writeUInt32LE(6, afterString(b, 'olmoe.block_count'))); // u32 -> f32
    const err = await loadError(path);
    expect(err.tensor).toBe('olmoe.block_count');
    expect(err.message).toMatch(/'olmoe\.block_count': expected an unsigned integer, got f32 /);
    // A bool stored as a u8 (same size, so the file still parses).
    const bos = await fresh('meta-bool');
    await patch(bos, (b) => b.writeUInt32LE(0, afterString(b, 'tokenizer.ggml.add_bos_token')));
    const e2 = await loadError(bos);
    expect(e2.tensor).toBe('tokenizer.ggml.add_bos_token');
    expect(e2.message).toMatch(/expected a bool, got u8 1/);
  });

  it('a row that is not a whole number of blocks', async () => {
    const path = await fresh('rows');
    await patch(path, (b) => b.writeBigUInt64LE(48n, tensorFields(b, 'blk.0.attn_k.weight').dim0));
    const err = await loadError(path);
    expect(err.tensor).toBe('blk.0.attn_k.weight');
    expect(err.message).toMatch(/is q8_0 with rows of 48 values, not a whole number of 32-value blocks \(shape \[32, 48\]\)/);
  });

  it('a split checkpoint with a shard missing names the missing file', async () => {
    const { paths } = await writeTinyGguf(root, 'split', { modelType: 'olmoe', seed: 72, format: 'q8_0', shards: 3 });
    await unlink(paths[1]);
    const err = await loadError(paths[0]);
    expect(err.file).toBe(basename(paths[1]));
    expect(err.message).toMatch(/cannot open/);
  });

  it('not a GGUF file at all', async () => {
    const path = join(root, 'text.gguf');
    await writeFile(path, 'hello, not a model');
    expect((await loadError(path)).message).toMatch(/text\.gguf: not a readable GGUF file/);
  });
});

describe('memory check before anything is allocated', () => {
  it("refuses a model over the backend's limit, naming the model, the bytes needed and the limit", async () => {
    const path = await fresh('memory');
    // As a backend that decodes every format to float32.
    const residentBytesFor = (_: unknown, shape: readonly number[]): number => 4 * shape.reduce((a, b) => a * b, 1);
    const { backend, prepared } = countingBackend({ residentBytesFor, limitBytes: 100_000, residentBytes: 0 });
    const err = (await loadModel(path, backend).catch((e: unknown) => e)) as MemoryLimitError;
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(err.model).toBe('memory.gguf');
    expect(err.limitBytes).toBe(100_000);
    expect(err.neededBytes).toBeGreaterThan(100_000);
    expect(err.message).toMatch(/memory\.gguf: the weights need \d\.\d\d GiB on backend cpu \(as cpu reports it\), more than its limit of 0\.00 GiB; nothing was allocated/);
    expect(prepared()).toBe(0);
  });

  it("refuses a model over the machine's available memory", async () => {
    const path = await fresh('machine');
    const { backend, prepared } = countingBackend();
    const err = (await loadModel(path, backend, { machine: { totalBytes: 2 ** 34, availableBytes: 50_000 } }).catch((e: unknown) => e)) as MemoryLimitError;
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(err.limitBytes).toBe(50_000);
    expect(err.message).toMatch(/machine\.gguf: the model needs .* more than the 0\.00 GiB this machine has available/);
    expect(prepared()).toBe(0);
    // The same file loads when the memory is there.
    const ok = await TextModel.load(path, { backend: 'cpu', machine: { totalBytes: 2 ** 34, availableBytes: 2 ** 33 } });
    ok.dispose();
  });
});
