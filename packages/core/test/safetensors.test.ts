import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRng,
  encodeBfloat16,
  HostTensor,
  openCheckpoint,
  openSafetensors,
  parseSafetensors,
  RawSafetensor,
  randomNormal,
  readSafetensorsFile,
  SafetensorsError,
  serializeSafetensors,
  writeSafetensors,
  writeShardedSafetensors,
  type DType,
} from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moe-core-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function randomTensor(shape: number[], seed: number, dtype: DType = 'float32'): HostTensor {
  const t = HostTensor.float32(shape, randomNormal(createRng(seed), shape.reduce((a, b) => a * b, 1)));
  return t.to(dtype);
}

/** Bytes of a hand-made file: the u64 length (default: the header's), the header text, the data. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

describe('safetensors round trip', () => {
  const tensors = {
    'layer.bias16': randomTensor([3], 1, 'float16'), // odd byte count first: alignment must still hold
    'layer.weight': randomTensor([5, 7], 2),
    'layer.bf': randomTensor([2, 3, 4], 3, 'bfloat16'),
    empty: HostTensor.float32([0, 4]),
  };

  it('is bit-exact in F32, F16 and BF16 through a buffer', () => {
    const bytes = serializeSafetensors(tensors, { metadata: { format: 'pt', note: 'test' } });
    const file = parseSafetensors(bytes, 'mem.safetensors');
    expect(file.metadata).toEqual({ format: 'pt', note: 'test' });
    expect(file.names().sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const back = file.get(name);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(back.data).toEqual(t.data);
      expect(back.data.buffer).not.toBe(bytes.buffer); // a copy, safe to keep
    }
    expect(file.info('layer.bf')).toMatchObject({ dtype: 'BF16', shape: [2, 3, 4] });
    expect(file.info('layer.bias16').dtype).toBe('F16');
  });

  it('pads the header with spaces to a multiple of 8 and aligns every tensor to its element size', () => {
    const bytes = serializeSafetensors(tensors);
    const n = headerLength(bytes);
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    for (const entry of Object.values(header)) {
      const width = entry.dtype === 'F32' ? 4 : 2;
      expect((8 + n + entry.data_offsets[0]) % width).toBe(0);
    }
    expect(header.__metadata__).toBeUndefined();
  });

  it('converts on write when a dtype is given (round to nearest even)', () => {
    const w = randomTensor([4, 4], 4);
    const back = parseSafetensors(serializeSafetensors({ w }, { dtype: 'bfloat16' })).get('w');
    expect(back.dtype).toBe('bfloat16');
    expect(back.data).toEqual(encodeBfloat16(w.data as Float32Array));
  });

  it('accepts a Map and writes/reads files lazily and whole', async () => {
    const path = join(dir, 'round.safetensors');
    await writeSafetensors(path, new Map(Object.entries(tensors)), { metadata: { k: 'v' } });
    const file = await openSafetensors(path);
    try {
      expect(file.source).toBe('round.safetensors');
      expect(file.metadata).toEqual({ k: 'v' });
      const [a, b] = await Promise.all([file.read('layer.weight'), file.read('layer.bf')]);
      expect(a.data).toEqual(tensors['layer.weight'].data);
      expect(b.data).toEqual(tensors['layer.bf'].data);
    } finally {
      await file.close();
    }
    await expect(file.read('layer.weight')).rejects.toThrow(/after close/);
    const all = await readSafetensorsFile(path);
    expect(Object.keys(all.tensors).sort()).toEqual(Object.keys(tensors).sort());
    expect(all.tensors['layer.bias16'].data).toEqual(tensors['layer.bias16'].data);
  });

  it('reads F64 tensors as float32 and refuses integer tensors on read', () => {
    const f64 = new Float64Array([1.5, -2.25, 1 / 3]);
    const i64 = new BigInt64Array([1n, 2n]);
    const data = new Uint8Array(24 + 16);
    data.set(new Uint8Array(f64.buffer), 0);
    data.set(new Uint8Array(i64.buffer), 24);
    const file = parseSafetensors(craft({ d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] }, ids: { dtype: 'I64', shape: [2], data_offsets: [24, 40] } }, data), 'mixed.safetensors');
    const d = file.get('d');
    expect(d.dtype).toBe('float32');
    expect(Array.from(d.data)).toEqual([1.5, -2.25, Math.fround(1 / 3)]);
    expect(() => file.get('ids')).toThrow(/mixed\.safetensors: tensor 'ids' has dtype I64, which cannot be read as a float tensor; readable dtypes: F32, F16, BF16, F64/);
  });

  it('writes raw U8 tensors (mxfp4 blocks and scales) beside float ones and reads their bytes back unchanged, from a buffer, a file and shards', async () => {
    const rng = createRng(23);
    const blocks = Uint8Array.from({ length: 3 * 2 * 16 }, () => rng.int(256));
    const scales = Uint8Array.from({ length: 3 * 2 }, () => 118 + rng.int(12));
    const map = new Map<string, HostTensor | RawSafetensor>([
      ['x.blocks', new RawSafetensor('U8', [3, 2, 16], blocks)],
      ['x.bias', tensors['layer.bias16']],
      ['x.scales', new RawSafetensor('U8', [3, 2], scales)],
    ]);
    const bytes = serializeSafetensors(map);
    const buf = parseSafetensors(bytes, 'raw.safetensors');
    expect(buf.info('x.blocks')).toMatchObject({ dtype: 'U8', shape: [3, 2, 16] });
    expect(Array.from(await buf.readBytes('x.blocks'))).toEqual(Array.from(blocks));
    expect(Array.from(await buf.readBytes('x.scales'))).toEqual(Array.from(scales));
    // Float tensors' bytes are their stored little-endian bytes; they still decode as before.
    expect(Array.from(await buf.readBytes('x.bias'))).toEqual(Array.from(new Uint8Array(tensors['layer.bias16'].data.buffer)));
    expect(buf.get('x.bias').data).toEqual(tensors['layer.bias16'].data);
    expect(() => buf.get('x.blocks')).toThrow(/tensor 'x\.blocks' has dtype U8, which cannot be read as a float tensor/);
    const path = join(dir, 'raw.safetensors');
    await writeFile(path, bytes);
    const file = await openSafetensors(path);
    expect(Array.from(await file.readBytes('x.blocks'))).toEqual(Array.from(blocks));
    await file.close();
    await expect(file.readBytes('x.blocks')).rejects.toThrow(/after close/);
    const shardDir = await mkdtemp(join(dir, 'raw-shards-'));
    await writeShardedSafetensors(shardDir, [new Map([...map].slice(0, 1)), new Map([...map].slice(1))]);
    const sharded = await openCheckpoint(shardDir);
    expect(Array.from(await sharded.readBytes('x.scales'))).toEqual(Array.from(scales));
    await sharded.close();
    expect(() => new RawSafetensor('U8', [3, 2], blocks)).toThrow(/needs 6 bytes, got 96/);
  });

  it('hands F32 / F16 / BF16 tensors out deferred (read when used, straight into a given buffer), F64 not at all, from files and shards', async () => {
    const map = new Map<string, HostTensor>([
      ['w32', tensors['layer.weight']],
      ['w16', tensors['layer.bias16']],
      ['wbf', tensors['layer.bf']],
    ]);
    const path = join(dir, 'deferred.safetensors');
    await writeSafetensors(path, map);
    const file = await openSafetensors(path);
    for (const name of ['w32', 'w16', 'wbf'] as const) {
      const t = file.deferred(name)!;
      const stored = map.get(name)!;
      expect(t.resident).toBe(false);
      expect(t.dtype).toBe(stored.dtype);
      expect(t.shape).toEqual(stored.shape);
      // Copied straight into a caller's buffer without being held, then read once on use.
      const out = new Uint8Array(t.byteLength);
      t.copyBytesTo(out);
      expect(t.resident).toBe(false);
      expect(Array.from(out)).toEqual(Array.from(new Uint8Array(stored.data.buffer, stored.data.byteOffset, stored.data.byteLength)));
      expect(t.data).toEqual(stored.data);
    }
    expect(() => file.deferred('nope')).toThrow(/no tensor named 'nope'/);
    const late = file.deferred('w32')!;
    await file.close();
    expect(() => late.toFloat32()).toThrow(/deferred\.safetensors: read 'w32' after close\(\)/);
    const shardDir = await mkdtemp(join(dir, 'deferred-shards-'));
    await writeShardedSafetensors(shardDir, [new Map([...map].slice(0, 2)), new Map([...map].slice(2))]);
    const sharded = await openCheckpoint(shardDir);
    expect(sharded.deferred!('wbf')!.data).toEqual(map.get('wbf')!.data);
    await sharded.close();
    // F64 is narrowed to float32 when read: no deferred form.
    const f64Path = join(dir, 'deferred-f64.safetensors');
    await writeFile(f64Path, craft({ d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] } }, new Uint8Array(new Float64Array([0.5, -1.25, 3]).buffer)));
    const f64File = await openSafetensors(f64Path);
    expect(f64File.deferred('d')).toBeUndefined();
    expect(Array.from((await f64File.read('d')).data)).toEqual([0.5, -1.25, 3]);
    await f64File.close();
  });

  it('a deferred tensor of a file truncated after opening fails with the tensor named', async () => {
    const path = join(dir, 'deferred-cut.safetensors');
    await writeSafetensors(path, { a: randomTensor([64], 8), b: randomTensor([64], 9) });
    const file = await openSafetensors(path);
    try {
      const b = file.deferred('b')!;
      await truncate(path, file.header.dataStart + 300); // b occupies [256, 512) of the data
      expect(() => b.toFloat32()).toThrow(/deferred-cut\.safetensors: tensor 'b': the file ended after \d+ of 256 bytes/);
    } finally {
      await file.close();
    }
  });

  it('names the missing tensor and what the file holds', () => {
    const file = parseSafetensors(serializeSafetensors(tensors), 'm.safetensors');
    expect(() => file.get('nope')).toThrow(/m\.safetensors: no tensor named 'nope'; the file holds 4 tensor\(s\): /);
  });

  it('rejects non-HostTensor values and bad options on write', () => {
    expect(() => serializeSafetensors({ w: new Float32Array(2) as unknown as HostTensor })).toThrow(/tensor 'w' is not a HostTensor/);
    expect(() => serializeSafetensors({ __metadata__: HostTensor.float32([1]) })).toThrow(SafetensorsError);
    expect(() => serializeSafetensors({}, { dtype: 'int4' as DType })).toThrow(/dtype: expected one of float32, float16, bfloat16/);
    expect(() => serializeSafetensors({}, { metadata: { n: 3 as unknown as string } })).toThrow(/metadata\.n/);
  });
});

describe('malformed safetensors', () => {
  const f32 = (n: number): Uint8Array => new Uint8Array(new Float32Array(randomNormal(createRng(n), n)).buffer);
  const parse = (bytes: Uint8Array) => () => parseSafetensors(bytes, 'bad.safetensors');

  it('a file shorter than 8 bytes', () => {
    expect(parse(new Uint8Array(5))).toThrow(new SafetensorsError('bad.safetensors: file is 5 bytes, shorter than the 8-byte header length prefix of a safetensors file'));
  });

  it('a header length beyond the file', () => {
    expect(parse(craft({}, new Uint8Array(0), 1000n))).toThrow(/bad\.safetensors: header length 1000 runs past the end of the file \(10 bytes leave at most 2 for the header\)/);
    expect(parse(craft({}, new Uint8Array(0), 2n ** 63n))).toThrow(SafetensorsError);
  });

  it('a header that is not JSON, or not an object', () => {
    expect(parse(craft('{"w": '))).toThrow(/bad\.safetensors: the 6-byte header is not valid UTF-8 JSON/);
    expect(parse(craft('[1, 2]'))).toThrow(/the header must be a JSON object of tensors, got an array/);
    expect(parse(craft('42'))).toThrow(/got 42/);
    expect(parse(craft({}, new Uint8Array(0), 1n))).toThrow(/too small/);
  });

  it('an entry with a missing or malformed field', () => {
    expect(parse(craft({ w: { shape: [2], data_offsets: [0, 8] } }, f32(2)))).toThrow(/bad\.safetensors: tensor 'w': missing field 'dtype'/);
    expect(parse(craft({ w: { dtype: 'F32', data_offsets: [0, 8] } }, f32(2)))).toThrow(/tensor 'w': missing field 'shape'/);
    expect(parse(craft({ w: { dtype: 'F32', shape: [2] } }, f32(2)))).toThrow(/tensor 'w': missing field 'data_offsets'/);
    expect(parse(craft({ w: 'F32' }, f32(2)))).toThrow(/tensor 'w': expected an object \{ dtype, shape, data_offsets \}/);
    expect(parse(craft({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, f32(2)))).toThrow(/shape must be an array of non-negative integers, got \[-2\]/);
    expect(parse(craft({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, f32(2)))).toThrow(/data_offsets must be \[begin, end\] with 0 <= begin <= end, got \[8,0\]/);
    expect(parse(craft({ __metadata__: { n: 1 } }))).toThrow(/__metadata__\.n must be a string, got 1/);
  });

  it('an unknown dtype, naming the tensor and the dtype', () => {
    expect(parse(craft({ w: { dtype: 'Q4_K', shape: [2], data_offsets: [0, 8] } }, f32(2)))).toThrow(/bad\.safetensors: tensor 'w': unknown dtype "Q4_K"; expected one of BOOL, .*BF16/);
  });

  it('offsets that do not match shape x dtype size', () => {
    expect(parse(craft({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, f32(6)))).toThrow(
      /tensor 'w': data_offsets \[0, 20\] span 20 bytes, expected 24 \(shape \[2, 3\] x 4 bytes of F32\)/,
    );
  });

  it('overlapping tensors', () => {
    const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expect(parse(craft(header, f32(3)))).toThrow(/tensor 'b' data_offsets \[4, 12\] overlap tensor 'a' \[0, 8\]; expected begin >= 8/);
  });

  it('offsets out of range: a truncated data section', () => {
    const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
    expect(parse(craft(header, f32(4)))).toThrow(/tensor 'b': data_offsets \[8, 24\] run past the data section \(16 bytes\): the file is truncated or the offsets are wrong/);
    const whole = serializeSafetensors({ w: randomTensor([8], 5) });
    expect(parse(whole.subarray(0, whole.length - 1))).toThrow(/run past the data section/);
  });

  it('names the file when opened from disk, and catches a file truncated after opening', async () => {
    const path = join(dir, 'broken.safetensors');
    await writeFile(path, craft('nope'));
    await expect(openSafetensors(path)).rejects.toThrow(/^broken\.safetensors: the 4-byte header is not valid UTF-8 JSON/);
    await writeFile(path, new Uint8Array(3));
    await expect(openSafetensors(path)).rejects.toThrow(/broken\.safetensors: file is 3 bytes, shorter than the 8-byte/);
    await expect(openSafetensors(join(dir, 'absent.safetensors'))).rejects.toThrow(/absent\.safetensors: cannot open/);

    await writeSafetensors(path, { a: randomTensor([64], 6), b: randomTensor([64], 7) });
    const file = await openSafetensors(path);
    try {
      await truncate(path, file.header.dataStart + 300); // b occupies [256, 512) of the data
      await expect(file.read('b')).rejects.toThrow(/broken\.safetensors: tensor 'b': the file ended after \d+ of 256 bytes/);
    } finally {
      await file.close();
    }
  });
});
