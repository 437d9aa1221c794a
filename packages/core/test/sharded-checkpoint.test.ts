import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRng,
  HostTensor,
  openCheckpoint,
  openSafetensorsIndex,
  randomNormal,
  SAFETENSORS_INDEX_FILE,
  ShardedSafetensors,
  writeSafetensors,
  writeShardedSafetensors,
} from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moe-core-shard-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const t = (shape: number[], seed: number): HostTensor => HostTensor.float32(shape, randomNormal(createRng(seed), shape[0] * (shape[1] ?? 1)));
const shard1 = { 'a.weight': t([4, 3], 1), 'b.weight': t([2], 2).to('bfloat16') };
const shard2 = { 'c.weight': t([3, 3], 3).to('float16') };

describe('sharded checkpoints', () => {
  it('writes shards plus an index and reads every tensor through one source', async () => {
    const sub = join(dir, 'ok');
    await mkdir(sub);
    const index = await writeShardedSafetensors(sub, [shard1, shard2], { metadata: { format: 'pt' } });
    expect(index).toBe(join(sub, SAFETENSORS_INDEX_FILE));
    const json = JSON.parse(await readFile(index, 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(json.weight_map).toEqual({ 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00001-of-00002.safetensors', 'c.weight': 'model-00002-of-00002.safetensors' });
    expect(json.metadata.total_size).toBe(48 + 4 + 18);

    const src = await openSafetensorsIndex(index);
    try {
      expect(src.names().sort()).toEqual(['a.weight', 'b.weight', 'c.weight']);
      expect(src.shardFiles).toHaveLength(2);
      expect(src.metadata).toEqual({ format: 'pt' });
      expect(src.indexMetadata).toEqual({ total_size: '70' });
      expect((await src.read('a.weight')).data).toEqual(shard1['a.weight'].data);
      expect((await src.read('b.weight')).data).toEqual(shard1['b.weight'].data);
      expect((await src.read('c.weight')).dtype).toBe('float16');
      expect((await src.read('c.weight')).data).toEqual(shard2['c.weight'].data);
      expect(src.info('c.weight').shape).toEqual([3, 3]);
      expect(() => src.info('d.weight')).toThrow(/model\.safetensors\.index\.json: weight_map has no tensor named 'd\.weight'/);
    } finally {
      await src.close();
    }
    const viaDir = await openCheckpoint(sub);
    expect(viaDir).toBeInstanceOf(ShardedSafetensors);
    await viaDir.close();
  });

  it('opens a folder holding a single model.safetensors', async () => {
    const sub = join(dir, 'single');
    await mkdir(sub);
    await writeSafetensors(join(sub, 'model.safetensors'), shard1);
    const src = await openCheckpoint(sub);
    expect(src.names()).toEqual(['a.weight', 'b.weight']);
    await src.close();
    await expect(openCheckpoint(join(dir, 'nothing-here'))).rejects.toThrow(/cannot open/);
  });

  it('rejects a bad index: not JSON, no weight_map, a missing shard, a tensor not in its shard, a path outside the folder', async () => {
    const sub = join(dir, 'bad');
    await mkdir(sub);
    await writeSafetensors(join(sub, 'one.safetensors'), shard1);
    const idx = join(sub, SAFETENSORS_INDEX_FILE);
    const attempt = async (content: string) => {
      await writeFile(idx, content);
      return openSafetensorsIndex(idx);
    };
    await expect(attempt('{')).rejects.toThrow(/model\.safetensors\.index\.json: not valid JSON/);
    await expect(attempt('{"metadata": {}}')).rejects.toThrow(/missing field 'weight_map'/);
    await expect(attempt(JSON.stringify({ weight_map: { 'a.weight': 'two.safetensors' } }))).rejects.toThrow(/two\.safetensors: cannot open/);
    await expect(attempt(JSON.stringify({ weight_map: { 'z.weight': 'one.safetensors' } }))).rejects.toThrow(/weight_map puts tensor 'z\.weight' in 'one\.safetensors', but that shard has no such tensor/);
    await expect(attempt(JSON.stringify({ weight_map: { 'a.weight': '../one.safetensors' } }))).rejects.toThrow(/must be a file name relative to the index's folder/);
    await expect(attempt(JSON.stringify({ weight_map: { 'a.weight': 3 } }))).rejects.toThrow(/weight_map\['a\.weight'\] must be a shard file name, got 3/);
  });

  it('refuses a tensor written to two shards', async () => {
    const sub = join(dir, 'dup');
    await mkdir(sub);
    await expect(writeShardedSafetensors(sub, [shard1, { 'a.weight': t([1], 4) }])).rejects.toThrow(/tensor 'a\.weight' is in shard model-00001-of-00002\.safetensors and model-00002-of-00002\.safetensors/);
  });
});
