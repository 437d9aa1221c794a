/**
 * Sharded checkpoints as Hugging Face saves them: `model.safetensors.index.json` holds
 * `{ metadata: { total_size }, weight_map: { tensorName: shardFile } }` next to the shard files.
 * Opening reads the index and every shard's header (small); tensor data stays on disk until read.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { SafetensorsError } from '../errors.js';
import type { HostTensor } from '../tensor.js';
import type { SafetensorsTensorInfo } from './safetensors-format.js';
import { openSafetensors, type SafetensorsFile, type TensorSource } from './safetensors-reader.js';
import { serializeSafetensors, type TensorMap, type WriteSafetensorsOptions } from './safetensors-writer.js';

/** The file name Hugging Face gives the index of a sharded safetensors checkpoint. */
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** A sharded checkpoint: one {@link TensorSource} over all shards. */
export class ShardedSafetensors implements TensorSource {
  readonly source: string;
  /** The index's `metadata` entries that are strings (e.g. total_size is often a number and is kept as text). */
  readonly indexMetadata: Readonly<Record<string, string>>;
  private readonly weightMap: ReadonlyMap<string, SafetensorsFile>;
  private readonly shards: readonly SafetensorsFile[];

  /** Use {@link openSafetensorsIndex}. */
  constructor(source: string, weightMap: ReadonlyMap<string, SafetensorsFile>, shards: readonly SafetensorsFile[], indexMetadata: Record<string, string>) {
    this.source = source;
    this.weightMap = weightMap;
    this.shards = shards;
    this.indexMetadata = indexMetadata;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.shards[0]?.metadata ?? {};
  }

  /** The shard files, in the order the index first names them. */
  get shardFiles(): string[] {
    return this.shards.map((s) => s.path);
  }

  names(): string[] {
    return [...this.weightMap.keys()];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  private shardOf(name: string): SafetensorsFile {
    const shard = this.weightMap.get(name);
    if (!shard) throw new SafetensorsError(`${this.source}: weight_map has no tensor named '${name}' (${this.weightMap.size} tensors in ${this.shards.length} shard(s))`);
    return shard;
  }

  info(name: string): SafetensorsTensorInfo {
    return this.shardOf(name).info(name);
  }

  read(name: string): Promise<HostTensor> {
    return this.shardOf(name).read(name);
  }

  readBytes(name: string): Promise<Uint8Array> {
    return this.shardOf(name).readBytes(name);
  }

  deferred(name: string): HostTensor | undefined {
    return this.shardOf(name).deferred(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }
}

function parseIndex(source: string, text: string): { weightMap: Record<string, string>; metadata: Record<string, string> } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(`${source}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError(`${source}: expected a JSON object with a 'weight_map'`);
  const { weight_map: map, metadata } = raw as Record<string, unknown>;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new SafetensorsError(`${source}: missing field 'weight_map' (an object mapping tensor names to shard files)`);
  }
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file.length === 0) throw new SafetensorsError(`${source}: weight_map['${name}'] must be a shard file name, got ${JSON.stringify(file)}`);
    if (isAbsolute(file) || normalize(file).split(/[\\/]/).includes('..')) {
      throw new SafetensorsError(`${source}: weight_map['${name}'] = '${file}' must be a file name relative to the index's folder`);
    }
  }
  const meta: Record<string, string> = {};
  if (typeof metadata === 'object' && metadata !== null) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v === 'string' || typeof v === 'number') meta[k] = String(v);
  }
  return { weightMap: map as Record<string, string>, metadata: meta };
}

/** Opens a sharded checkpoint from its index file; every shard's header is validated now. */
export async function openSafetensorsIndex(indexPath: string): Promise<ShardedSafetensors> {
  const source = basename(indexPath);
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (err) {
    throw new SafetensorsError(`${indexPath}: cannot read the index (${err instanceof Error ? err.message : String(err)})`);
  }
  const { weightMap, metadata } = parseIndex(source, text);
  const dir = dirname(indexPath);
  const files = new Map<string, SafetensorsFile>();
  try {
    for (const file of new Set(Object.values(weightMap))) files.set(file, await openSafetensors(join(dir, file)));
    const byName = new Map<string, SafetensorsFile>();
    for (const [name, file] of Object.entries(weightMap)) {
      const shard = files.get(file)!;
      if (!shard.has(name)) throw new SafetensorsError(`${source}: weight_map puts tensor '${name}' in '${file}', but that shard has no such tensor`);
      byName.set(name, shard);
    }
    return new ShardedSafetensors(source, byName, [...files.values()], metadata);
  } catch (err) {
    await Promise.all([...files.values()].map((f) => f.close()));
    throw err;
  }
}

/**
 * Opens whatever `path` names: a folder (its `model.safetensors.index.json`, else its
 * `model.safetensors`), an index `.json` file, or a single `.safetensors` file.
 */
export async function openCheckpoint(path: string): Promise<TensorSource> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (err) {
    throw new SafetensorsError(`${path}: cannot open (${err instanceof Error ? err.message : String(err)})`);
  }
  if (isDir) {
    const index = join(path, SAFETENSORS_INDEX_FILE);
    const hasIndex = await stat(index).then(
      () => true,
      () => false,
    );
    return hasIndex ? openSafetensorsIndex(index) : openSafetensors(join(path, 'model.safetensors'));
  }
  return path.endsWith('.json') ? openSafetensorsIndex(path) : openSafetensors(path);
}

/**
 * Writes `shards` as `model-0000i-of-0000n.safetensors` files plus `model.safetensors.index.json`
 * in `dir`; returns the index path. A tensor name may appear in only one shard.
 */
export async function writeShardedSafetensors(dir: string, shards: readonly TensorMap[], options: WriteSafetensorsOptions = {}): Promise<string> {
  if (shards.length === 0) throw new SafetensorsError('writeShardedSafetensors: expected at least one shard');
  const n = shards.length;
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let i = 0; i < n; i++) {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    const bytes = serializeSafetensors(shards[i], options);
    const names = shards[i] instanceof Map ? [...(shards[i] as ReadonlyMap<string, unknown>).keys()] : Object.keys(shards[i]);
    for (const name of names) {
      if (name in weightMap) throw new SafetensorsError(`writeShardedSafetensors: tensor '${name}' is in shard ${weightMap[name]} and ${file}`);
      weightMap[name] = file;
    }
    totalSize += bytes.length - 8 - Number(new DataView(bytes.buffer).getBigUint64(0, true));
    await writeFile(join(dir, file), bytes);
  }
  const index = join(dir, SAFETENSORS_INDEX_FILE);
  await writeFile(index, JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return index;
}
