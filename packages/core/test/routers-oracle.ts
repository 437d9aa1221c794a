/**
 * Independent float64 implementations of the routing rules, written differently from the
 * routers on purpose (log-sum-exp softmax, full sorts, per-position capacity counts), plus a
 * host test-double backend, for the router tests.
 */
import {
  buildRoutingPlan,
  createRng,
  referenceExperts,
  type Backend,
  type ExpertGroup,
  type LinearWeights,
  type PreparedExperts,
  type PreparedLinear,
  type RouterDecision,
  type RoutingPlan,
} from '../src/index.js';

/** Seeded random logits `[t, e]`, normal with the given scale. */
export function randomLogits(t: number, e: number, seed: number, scale = 2): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: t * e }, () => rng.normal() * scale);
}

/** Softmax of one row by log-sum-exp. */
export function softmaxLse(row: ArrayLike<number>): number[] {
  const v = Array.from(row);
  const m = Math.max(...v);
  const lse = m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
  return v.map((x) => Math.exp(x - lse));
}

/** Indices sorted by score descending, ties by lower index. */
export function rankDesc(scores: readonly number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => (scores[b] > scores[a] ? 1 : scores[b] < scores[a] ? -1 : a - b));
}

/** One row of a `[t, e]` array. */
export function row(a: ArrayLike<number>, e: number, i: number): number[] {
  return Array.from({ length: e }, (_, j) => a[i * e + j]);
}

/** Expected routing: per token, a map expert -> weight of the KEPT assignments. */
export type Routing = Map<number, number>[];

/** What a decision keeps after the core applies capacity, as {@link Routing}. */
export function keptRouting(decision: RouterDecision, t: number, e: number): Routing {
  const plan: RoutingPlan = buildRoutingPlan(decision, t, e);
  const out: Routing = Array.from({ length: t }, () => new Map());
  for (let ex = 0; ex < e; ex++) {
    for (let r = plan.expertOffsets[ex]; r < plan.expertOffsets[ex + 1]; r++) out[plan.rowToken[r]].set(ex, plan.rowWeight[r]);
  }
  return out;
}

/** Sorted expert lists and weights of a routing, for readable equality assertions. */
export function routingStrings(routing: Routing, digits = 6): string[] {
  return routing.map((m) => [...m.entries()].sort((a, b) => a[0] - b[0]).map(([ex, w]) => `${ex}:${w.toFixed(digits)}`).join(' '));
}

/** Asserts-friendly comparison: same experts everywhere and weights within `tol`. */
export function routingDiff(actual: Routing, expected: Routing, tol: number): string[] {
  const problems: string[] = [];
  expected.forEach((exp, i) => {
    const act = actual[i];
    const a = [...act.keys()].sort((x, y) => x - y).join(',');
    const x = [...exp.keys()].sort((p, q) => p - q).join(',');
    if (a !== x) problems.push(`token ${i}: experts [${a}] expected [${x}]`);
    else for (const [ex, w] of exp) if (!(Math.abs(act.get(ex)! - w) <= tol)) problems.push(`token ${i} expert ${ex}: weight ${act.get(ex)} expected ${w}`);
  });
  return problems;
}

/** Top-k softmax, renormalised or not. */
export function oracleTopKSoftmax(logits: ArrayLike<number>, t: number, e: number, k: number, renormalize: boolean): Routing {
  return Array.from({ length: t }, (_, i) => {
    const p = softmaxLse(row(logits, e, i));
    const top = rankDesc(p).slice(0, k);
    const sum = renormalize ? top.reduce((s, j) => s + p[j], 0) : 1;
    return new Map(top.map((j) => [j, p[j] / sum]));
  });
}

/** GShard / DeepSpeed top-k with capacity, by per-position counting (locations = cumsum). */
export function oracleTopKCapacity(
  logits: ArrayLike<number>,
  t: number,
  e: number,
  k: number,
  o: { capacityFactor: number; minCapacity: number; renormalize: boolean; afterDrops: boolean },
): Routing {
  const c = Math.max(o.minCapacity, Math.ceil((t / e) * o.capacityFactor * k));
  const probs = Array.from({ length: t }, (_, i) => softmaxLse(row(logits, e, i)));
  const choice = probs.map((p) => rankDesc(p).slice(0, k));
  // location of (token i, slot s) in its expert's queue: all earlier slots, then earlier tokens.
  const location = (i: number, s: number): number => {
    const ex = choice[i][s];
    let loc = 0;
    for (let s2 = 0; s2 < s; s2++) for (let i2 = 0; i2 < t; i2++) if (choice[i2][s2] === ex) loc++;
    for (let i2 = 0; i2 < i; i2++) if (choice[i2][s] === ex) loc++;
    return loc;
  };
  return choice.map((experts, i) => {
    const kept = experts.map((_, s) => location(i, s) < c);
    const denom = o.renormalize ? experts.reduce((sum, ex, s) => sum + (o.afterDrops && !kept[s] ? 0 : probs[i][ex]), 0) : 1;
    const m = new Map<number, number>();
    experts.forEach((ex, s) => kept[s] && m.set(ex, probs[i][ex] / denom));
    return m;
  });
}

/** Noisy top-k: H = l + eps * scale_e, eps drawn token-major from createRng(seed). */
export function oracleNoisyTopK(logits: ArrayLike<number>, t: number, e: number, k: number, seed: number, scale: ((j: number) => number) | null): Routing {
  const rng = createRng(seed);
  const h = Array.from(logits, (l, a) => (scale ? l + rng.normal() * scale(a % e) : l));
  return Array.from({ length: t }, (_, i) => {
    const hr = row(h, e, i);
    const top = rankDesc(hr).slice(0, k);
    const kept = softmaxLse(top.map((j) => hr[j]));
    return new Map(top.map((j, s) => [j, kept[s]]));
  });
}

/** Expert choice: each expert sorts all tokens by S[:, e] and takes the first C. */
export function oracleExpertChoice(logits: ArrayLike<number>, t: number, e: number, cf: number): Routing {
  const s = Array.from({ length: t }, (_, i) => softmaxLse(row(logits, e, i)));
  const c = Math.min(t, Math.ceil((t * cf) / e));
  const out: Routing = Array.from({ length: t }, () => new Map());
  for (let j = 0; j < e; j++) {
    const column = s.map((r) => r[j]);
    for (const i of rankDesc(column).slice(0, c)) out[i].set(j, column[i]);
  }
  return out;
}

/** MurmurHash3 fmix32 in BigInt arithmetic (independent of Math.imul). */
export function fmix32Big(x: number): number {
  const M = (1n << 32n) - 1n;
  let h = BigInt(x >>> 0);
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M;
  h ^= h >> 16n;
  return Number(h);
}

/** Hash routing: k distinct experts from h_0, h_1, ... (then lowest unused ids), weight 1/k. */
export function oracleHash(ids: readonly number[], e: number, k: number, seed: number): Routing {
  return ids.map((id) => {
    const experts: number[] = [];
    for (let s = 0; experts.length < k && s < 8 * k; s++) {
      const ex = fmix32Big(Number((BigInt(id) ^ BigInt(fmix32Big((seed + s) >>> 0))) & 0xffffffffn)) % e;
      if (!experts.includes(ex)) experts.push(ex);
    }
    for (let ex = 0; experts.length < k; ex++) if (!experts.includes(ex)) experts.push(ex);
    return new Map(experts.map((ex) => [ex, 1 / k]));
  });
}

/** Group-limited top-k (DeepSeek V2 / V3), by sorting groups and experts. */
export function oracleGroupTopK(
  logits: ArrayLike<number>,
  t: number,
  e: number,
  k: number,
  o: { kind: 'sigmoid' | 'softmax'; nGroup: number; topkGroup: number; norm: boolean; scale: number; bias?: readonly number[] },
): Routing {
  const size = e / o.nGroup;
  return Array.from({ length: t }, (_, i) => {
    const l = row(logits, e, i);
    const affinity = o.kind === 'sigmoid' ? l.map((x) => 1 / (1 + Math.exp(-x))) : softmaxLse(l);
    const choose = affinity.map((v, j) => v + (o.bias?.[j] ?? 0));
    const groupScore = Array.from({ length: o.nGroup }, (_, g) => {
      const members = choose.slice(g * size, (g + 1) * size).sort((a, b) => b - a);
      return o.kind === 'softmax' || size === 1 ? members[0] : members[0] + members[1];
    });
    const keptGroups = new Set(rankDesc(groupScore).slice(0, o.topkGroup));
    const candidates = choose.map((v, j) => (keptGroups.has(Math.floor(j / size)) ? v : -Infinity));
    const top = rankDesc(candidates).slice(0, k);
    const sum = o.norm ? top.reduce((s, j) => s + affinity[j], 0) + 1e-20 : 1;
    return new Map(top.map((j) => [j, (affinity[j] / sum) * o.scale]));
  });
}

interface HostLinear extends PreparedLinear {
  readonly w: Float32Array;
}
interface HostExperts extends PreparedExperts {
  readonly group: ExpertGroup;
}

/**
 * A host test double of a backend: float32 router GEMM, and the grouped expert pass through
 * the float64 reference rounded to float32 (it computes only the plan's rows, like a backend).
 */
export function hostTestBackend(): Backend {
  return {
    name: 'host-test',
    engine: 'test double (float64 reference rounded to float32)',
    async prepareLinear(weights: LinearWeights): Promise<HostLinear> {
      const [out, inF] = weights.weight.shape;
      return { inFeatures: inF, outFeatures: out, w: weights.weight.toFloat32(), dispose: () => undefined };
    },
    async linear(layer, x, rows) {
      const { w, inFeatures: d, outFeatures: o } = layer as HostLinear;
      const y = new Float32Array(rows * o);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < o; j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s = Math.fround(s + Math.fround(x[i * d + c] * w[j * d + c]));
          y[i * o + j] = s;
        }
      }
      return y;
    },
    async prepareExperts(group: ExpertGroup): Promise<HostExperts> {
      return { kind: group.kind, numExperts: group.experts.length, hiddenSize: group.hiddenSize, ffnSize: group.ffnSize, group, dispose: () => undefined };
    },
    async runExperts(experts, x, plan) {
      return Float32Array.from(referenceExperts((experts as HostExperts).group, x, plan));
    },
    async dispose() {},
  };
}

/** A router construction context. */
export function ctx(numExperts: number, topK: number, params: Record<string, Float32Array> = {}): { numExperts: number; topK: number; params: Record<string, Float32Array> } {
  return { numExperts, topK, params };
}
