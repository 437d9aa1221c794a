/**
 * Checks a backend's `memory` figures against what the process really grows by: a child Node
 * process (so nothing else lives in its heap, and with `--expose-gc` so garbage does not count)
 * prepares one seeded expert group in a given format, runs one forward pass over every expert
 * (libraries that pack weights on first use do it then), and reports its RSS growth next to the
 * bytes the backend says it holds.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { DType } from '../formats/block-formats.js';

/** What {@link probeResidentBytes} measured. */
export interface ResidentProbe {
  /** RSS growth from before prepare to after the forward pass, in bytes. */
  readonly measuredBytes: number;
  /** `backend.memory.residentBytes` after the forward pass. */
  readonly reportedBytes: number;
  /** `backend.memory.residentBytesFor` summed over the group's tensors. */
  readonly predictedBytes: number;
  /** Weight values in the group. */
  readonly values: number;
}

const script = (pkg: string, backend: string, dtype: DType, shape: { d: number; f: number; e: number }): string => `
import { buildRoutingPlan, getBackend, randomWeights } from '@moe-runtime/core';
await import(${JSON.stringify(pkg)});
const b = await getBackend(${JSON.stringify(backend)});
const D = ${shape.d}, F = ${shape.f}, E = ${shape.e};
const w = randomWeights({ hiddenSize: D, numExperts: E, topK: 2, expert: { kind: 'swiglu', ffnSize: F }, router: { name: 'topk' } }, { seed: 1, dtype: ${JSON.stringify(dtype)} });
const group = { kind: 'swiglu', hiddenSize: D, ffnSize: F, experts: w.experts };
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 100)); } };
await settle();
const r0 = process.memoryUsage().rss;
const p = await b.prepareExperts(group);
const T = 2 * E, token = new Int32Array(2 * T), expert = new Int32Array(2 * T), weight = new Float32Array(2 * T).fill(0.5);
for (let t = 0; t < T; t++) { token[2 * t] = t; token[2 * t + 1] = t; expert[2 * t] = t % E; expert[2 * t + 1] = (t + 1) % E; }
await b.runExperts(p, new Float32Array(T * D).fill(0.1), buildRoutingPlan({ token, expert, weight }, T, E));
await settle();
const measuredBytes = process.memoryUsage().rss - r0;
const predictedBytes = w.experts.reduce((s, e) => s + [e.gate, e.up, e.down].reduce((n, t) => n + b.memory.residentBytesFor(t.dtype, t.shape), 0), 0);
console.log(JSON.stringify({ measuredBytes, reportedBytes: b.memory.residentBytes, predictedBytes, values: E * 3 * D * F }));
p.dispose();
await b.dispose();
`;

/**
 * Runs the probe for the backend registered by package `pkg` under `backend`, from `cwd` (the
 * backend package's folder, whose dependencies resolve `@moe-runtime/core` and `pkg`). The
 * default shape holds 22M values (88 MB in float32): large enough that allocator noise is small.
 */
export async function probeResidentBytes(pkg: string, backend: string, dtype: DType, cwd: string, shape = { d: 1024, f: 1792, e: 4 }): Promise<ResidentProbe> {
  // Asynchronous: a test runner whose thread blocked for the child's whole run would time out.
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--input-type=module', '-e', script(pkg, backend, dtype, shape)], { cwd, encoding: 'utf8', timeout: 120_000 });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as ResidentProbe;
  } catch (err) {
    const e = err as { code?: number; stderr?: string; message?: string };
    throw new Error(`resident probe of ${backend} (${dtype}) failed (${e.code}): ${e.stderr || e.message}`);
  }
}

const MiB = 2 ** 20;

/** Options of {@link checkResidentBytes}. */
export interface ResidentCheckOptions {
  /** The group probed (as for {@link probeResidentBytes}); default 22M values. */
  readonly shape?: { d: number; f: number; e: number };
  /**
   * Growth allowed beyond 5 % of the prediction whatever the group's size: allocator slack.
   * Default 24 MiB. A library that keeps a fixed amount of freed load buffers in the C heap
   * (onnxruntime: about 50 MB) needs more on small groups.
   */
  readonly fixedSlackBytes?: number;
}

/**
 * Probes and checks: the backend reports exactly what `residentBytesFor` predicts, the process
 * grows by no more than that (5 % + `fixedSlackBytes`) and by at least half of it (the figure is
 * not a blanket overestimate). Throws an Error saying which bound failed. A backend whose
 * per-value cost only settles at model scale is checked on a larger group (`shape`).
 */
export async function checkResidentBytes(pkg: string, backend: string, dtype: DType, cwd: string, options: ResidentCheckOptions = {}): Promise<ResidentProbe> {
  const r = await probeResidentBytes(pkg, backend, dtype, cwd, options.shape);
  const slack = options.fixedSlackBytes ?? 24 * MiB;
  const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
  const what = `${backend} ${dtype}: measured ${mib(r.measuredBytes)}, predicted ${mib(r.predictedBytes)}, reported ${mib(r.reportedBytes)}`;
  if (r.reportedBytes !== r.predictedBytes) throw new Error(`${what}: reported resident bytes differ from residentBytesFor`);
  if (r.measuredBytes > r.predictedBytes * 1.05 + slack) throw new Error(`${what}: the process grew by more than the backend accounts for (5 % + ${mib(slack)} allowed)`);
  if (r.measuredBytes < r.predictedBytes * 0.5) throw new Error(`${what}: the backend accounts for more than twice what it holds`);
  return r;
}
