// Causal grouped-query attention over a KV cache resident in this memory, flash-attention
// style: keys are visited in tiles of TILE positions aligned to absolute positions (0-63,
// 64-127, ...), and every (query row, head) keeps a running maximum, sum and output row (the
// output row itself is the accumulator), so no T x T score matrix exists. One work item is
// (segment, KV head, block of QB query rows): the tile of keys and values it decodes (f16 and
// q8_0 caches) serves every query head of the KV head's group and every row of the block.
//
// Determinism: a row only ever visits the tiles its own causal (and window) range covers, in
// ascending order, and its range inside a tile depends only on its position, so its arithmetic
// is the same however the rows were split into calls, blocks or threads, and whatever other
// segments share the batch.
//
// Descriptor (16 i32 fields, 64 bytes, kind ATTEND): kind, q, out, rows, position, keys (layer
// base: head h's rows start at keys + h * capacity * keyRowBytes), values, capacity, numHeads,
// group (query heads per KV head), keyDim, valueDim, fmt (rows.ts: F32, F16 or Q8_0), scale
// (f32 bits), window (0: none), sinks (address of numHeads f32, 0: none). Addresses unsigned.
import { madd } from './simd';
import { vexp } from './activations';
import { decodeRow, F32, rowBytesOf } from './rows';

/** Descriptor kind of an attention segment (GEMM epilogues use 0..3). */
export const ATTEND = 16;
/** Keys per tile. */
const TILE = 64;
/** Query rows per work item. */
const QB = 16;

// @ts-ignore: decorator
@inline
function kvHeadsOf(p: usize): i32 {
  return load<i32>(p, 32) / load<i32>(p, 36);
}

/** Work items of one segment: KV heads x query blocks. */
export function attendChunks(p: usize): i32 {
  const rows = load<i32>(p, 12);
  return kvHeadsOf(p) * ((rows + QB - 1) / QB);
}

/** Bytes of work buffer one thread needs (decoded key and value tiles, scores, row state). */
export function attendWorkBytes(keyDim: i32, valueDim: i32, group: i32): usize {
  return <usize>TILE * (<usize>keyDim + <usize>valueDim + 2) * 4 + 64 + <usize>QB * <usize>group * 8 + 64;
}

// @ts-ignore: decorator
@inline
function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** q . k of four consecutive key rows (stride kRow bytes), as one vector of four sums. */
// @ts-ignore: decorator
@inline
function dots4(q: usize, k: usize, kRow: usize, dk: i32): v128 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  const n = <usize>(dk & ~3) << 2;
  for (let c: usize = 0; c < n; c += 16) {
    const x = v128.load(q + c);
    a0 = madd(x, v128.load(k + c), a0);
    a1 = madd(x, v128.load(k + kRow + c), a1);
    a2 = madd(x, v128.load(k + 2 * kRow + c), a2);
    a3 = madd(x, v128.load(k + 3 * kRow + c), a3);
  }
  return finish4(a0, a1, a2, a3, q, k, kRow, dk, n);
}

/** q . k of one key row, summed as one lane of dots4 would be. */
function dot1(q: usize, k: usize, dk: i32): f32 {
  let a = f32x4.splat(0);
  const n = <usize>(dk & ~3) << 2;
  for (let c: usize = 0; c < n; c += 16) a = madd(v128.load(q + c), v128.load(k + c), a);
  let s = (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 2)) + (f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 3));
  let t: f32 = 0;
  for (let c = n; c < (<usize>dk << 2); c += 4) t += load<f32>(q + c) * load<f32>(k + c);
  return s + t;
}

/**
 * Scores of one query row (at q) against n key rows from `k` (the row's first visible key of
 * the tile, fixed by its position alone), scaled, into `sp`; returns their maximum.
 */
function scoreRange(q: usize, k: usize, kRow: usize, dk: i32, n: i32, scale: f32, sp: usize): f32 {
  const sv = f32x4.splat(scale);
  let mv = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const s = f32x4.mul(dots4(q, k + <usize>j * kRow, kRow, dk), sv);
    v128.store(sp + (<usize>j << 2), s);
    mv = f32x4.max(mv, s);
  }
  let m = hmax(mv);
  for (; j < n; j++) {
    const s = dot1(q, k + <usize>j * kRow, dk) * scale;
    store<f32>(sp + (<usize>j << 2), s);
    m = max(m, s);
  }
  return m;
}

/** Turns the scores at sp into weights e^(s - m) in place; returns their sum. */
function weigh(sp: usize, n: i32, m: f32): f32 {
  const mv = f32x4.splat(m);
  let sv = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const w = vexp(f32x4.sub(v128.load(sp + (<usize>j << 2)), mv));
    v128.store(sp + (<usize>j << 2), w);
    sv = f32x4.add(sv, w);
  }
  let s = (f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1)) + (f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3));
  for (; j < n; j++) {
    const w = f32x4.extract_lane(vexp(f32x4.splat(load<f32>(sp + (<usize>j << 2)) - m)), 0);
    store<f32>(sp + (<usize>j << 2), w);
    s += w;
  }
  return s;
}

/** o[0..dv) = o * corr + sum_j w_j v_j over n value rows (stride vRow bytes) at v. */
function accumulate(o: usize, v: usize, vRow: usize, dv: i32, n: i32, sp: usize, corr: f32): void {
  const cv = f32x4.splat(corr);
  const end = <usize>dv << 2;
  let c: usize = 0;
  for (; c + 64 <= end; c += 64) {
    let a0 = f32x4.mul(v128.load(o + c), cv);
    let a1 = f32x4.mul(v128.load(o + c, 16), cv);
    let a2 = f32x4.mul(v128.load(o + c, 32), cv);
    let a3 = f32x4.mul(v128.load(o + c, 48), cv);
    let vp = v + c;
    for (let j = 0; j < n; j++, vp += vRow) {
      const w = v128.load32_splat(sp + (<usize>j << 2));
      a0 = madd(w, v128.load(vp), a0);
      a1 = madd(w, v128.load(vp, 16), a1);
      a2 = madd(w, v128.load(vp, 32), a2);
      a3 = madd(w, v128.load(vp, 48), a3);
    }
    v128.store(o + c, a0);
    v128.store(o + c, a1, 16);
    v128.store(o + c, a2, 32);
    v128.store(o + c, a3, 48);
  }
  accumulateFrom(o, v, vRow, dv, n, sp, corr, c);
}

/** accumulate's columns from byte `c0` on (16 bytes at a time, then scalar). */
function accumulateFrom(o: usize, v: usize, vRow: usize, dv: i32, n: i32, sp: usize, corr: f32, c0: usize): void {
  const cv = f32x4.splat(corr);
  const end = <usize>dv << 2;
  let c = c0;
  for (; c + 16 <= end; c += 16) {
    let a = f32x4.mul(v128.load(o + c), cv);
    let vp = v + c;
    for (let j = 0; j < n; j++, vp += vRow) a = madd(v128.load32_splat(sp + (<usize>j << 2)), v128.load(vp), a);
    v128.store(o + c, a);
  }
  for (; c < end; c += 4) {
    let a = load<f32>(o + c) * corr;
    let vp = v + c;
    for (let j = 0; j < n; j++, vp += vRow) a += load<f32>(sp + (<usize>j << 2)) * load<f32>(vp);
    store<f32>(o + c, a);
  }
}

/**
 * Two query heads of one KV group (queries q0, q1) against four consecutive key rows: the
 * vectors dots4 gives for each, each key row loaded once for both.
 */
// @ts-ignore: decorator
@inline
function dots4x2(q0: usize, q1: usize, k: usize, kRow: usize, dk: i32, sp0: usize, sp1: usize, sv: v128): void {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0);
  let b1 = f32x4.splat(0);
  let b2 = f32x4.splat(0);
  let b3 = f32x4.splat(0);
  const n = <usize>(dk & ~3) << 2;
  for (let c: usize = 0; c < n; c += 16) {
    const x = v128.load(q0 + c);
    const y = v128.load(q1 + c);
    const k0 = v128.load(k + c);
    a0 = madd(x, k0, a0);
    b0 = madd(y, k0, b0);
    const k1 = v128.load(k + kRow + c);
    a1 = madd(x, k1, a1);
    b1 = madd(y, k1, b1);
    const k2 = v128.load(k + 2 * kRow + c);
    a2 = madd(x, k2, a2);
    b2 = madd(y, k2, b2);
    const k3 = v128.load(k + 3 * kRow + c);
    a3 = madd(x, k3, a3);
    b3 = madd(y, k3, b3);
  }
  v128.store(sp0, f32x4.mul(finish4(a0, a1, a2, a3, q0, k, kRow, dk, n), sv));
  v128.store(sp1, f32x4.mul(finish4(b0, b1, b2, b3, q1, k, kRow, dk, n), sv));
}

/** The transpose-add of dots4 (lane i: the sum of a_i's lanes) plus the keyDim % 4 tail. */
// @ts-ignore: decorator
@inline
function finish4(a0: v128, a1: v128, a2: v128, a3: v128, q: usize, k: usize, kRow: usize, dk: i32, n: usize): v128 {
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  let r = f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
  if (dk & 3) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (let c = n; c < (<usize>dk << 2); c += 4) {
      const x = load<f32>(q + c);
      t0 += x * load<f32>(k + c);
      t1 += x * load<f32>(k + kRow + c);
      t2 += x * load<f32>(k + 2 * kRow + c);
      t3 += x * load<f32>(k + 3 * kRow + c);
    }
    r = f32x4.add(r, f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(t0), 1, t1), 2, t2), 3, t3));
  }
  return r;
}

/** scoreRange for two heads at once (scores into sp0 and sp1); their maxima into `maxes` (2 f32). */
function scoreRange2(q0: usize, q1: usize, k: usize, kRow: usize, dk: i32, n: i32, scale: f32, sp0: usize, sp1: usize, maxes: usize): void {
  const sv = f32x4.splat(scale);
  let j = 0;
  for (; j + 4 <= n; j += 4) dots4x2(q0, q1, k + <usize>j * kRow, kRow, dk, sp0 + (<usize>j << 2), sp1 + (<usize>j << 2), sv);
  for (; j < n; j++) {
    store<f32>(sp0 + (<usize>j << 2), dot1(q0, k + <usize>j * kRow, dk) * scale);
    store<f32>(sp1 + (<usize>j << 2), dot1(q1, k + <usize>j * kRow, dk) * scale);
  }
  store<f32>(maxes, rangeMax(sp0, n));
  store<f32>(maxes, rangeMax(sp1, n), 4);
}

/** Maximum of n scores at sp (max is exact: the order does not matter). */
function rangeMax(sp: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= n; j += 4) mv = f32x4.max(mv, v128.load(sp + (<usize>j << 2)));
  let m = hmax(mv);
  for (; j < n; j++) m = max(m, load<f32>(sp + (<usize>j << 2)));
  return m;
}

/** accumulate for two heads over the same value rows (each value row loaded once for both). */
function accumulate2(o0: usize, o1: usize, v: usize, vRow: usize, dv: i32, n: i32, sp0: usize, sp1: usize, corr0: f32, corr1: f32): void {
  const end = <usize>dv << 2;
  let c: usize = 0;
  const c0 = f32x4.splat(corr0);
  const c1 = f32x4.splat(corr1);
  for (; c + 64 <= end; c += 64) {
    let a0 = f32x4.mul(v128.load(o0 + c), c0);
    let a1 = f32x4.mul(v128.load(o0 + c, 16), c0);
    let a2 = f32x4.mul(v128.load(o0 + c, 32), c0);
    let a3 = f32x4.mul(v128.load(o0 + c, 48), c0);
    let b0 = f32x4.mul(v128.load(o1 + c), c1);
    let b1 = f32x4.mul(v128.load(o1 + c, 16), c1);
    let b2 = f32x4.mul(v128.load(o1 + c, 32), c1);
    let b3 = f32x4.mul(v128.load(o1 + c, 48), c1);
    let vp = v + c;
    for (let j = 0; j < n; j++, vp += vRow) {
      const w = v128.load32_splat(sp0 + (<usize>j << 2));
      const x = v128.load32_splat(sp1 + (<usize>j << 2));
      const v0 = v128.load(vp);
      a0 = madd(w, v0, a0);
      b0 = madd(x, v0, b0);
      const v1 = v128.load(vp, 16);
      a1 = madd(w, v1, a1);
      b1 = madd(x, v1, b1);
      const v2 = v128.load(vp, 32);
      a2 = madd(w, v2, a2);
      b2 = madd(x, v2, b2);
      const v3 = v128.load(vp, 48);
      a3 = madd(w, v3, a3);
      b3 = madd(x, v3, b3);
    }
    v128.store(o0 + c, a0);
    v128.store(o0 + c, a1, 16);
    v128.store(o0 + c, a2, 32);
    v128.store(o0 + c, a3, 48);
    v128.store(o1 + c, b0);
    v128.store(o1 + c, b1, 16);
    v128.store(o1 + c, b2, 32);
    v128.store(o1 + c, b3, 48);
  }
  if (c < end) {
    // The remainder (valueDim % 16) one head at a time, exactly as accumulate does it.
    accumulateFrom(o0, v, vRow, dv, n, sp0, corr0, c);
    accumulateFrom(o1, v, vRow, dv, n, sp1, corr1, c);
  }
}

/**
 * Folds a tile's scores (at sp, maximum mt) into the state at s (max, sum): the scores become
 * weights e^(score - new max); returns the factor that rescales what was accumulated before.
 */
// @ts-ignore: decorator
@inline
function fold(s: usize, mt: f32, sp: usize, n: i32): f32 {
  const mOld = load<f32>(s);
  const m = max(mOld, mt);
  const corr: f32 = mOld == -Infinity ? 0 : f32x4.extract_lane(vexp(f32x4.splat(mOld - m)), 0);
  const sum = weigh(sp, n, m);
  store<f32>(s, m);
  store<f32>(s, load<f32>(s, 4) * corr + sum, 4);
  return corr;
}

/** Normalises one output row by its state; a sink joins the denominator only. */
function finishRow(o: usize, dv: i32, m: f32, sum: f32, hasSink: bool, sink: f32): void {
  const top = hasSink ? max(m, sink) : m;
  const keep = Math.exp(<f64>m - <f64>top);
  const den = <f64>sum * keep + (hasSink ? Math.exp(<f64>sink - <f64>top) : 0);
  const f = f32x4.splat(<f32>(keep / den));
  const end = <usize>dv << 2;
  let c: usize = 0;
  for (; c + 16 <= end; c += 16) v128.store(o + c, f32x4.mul(v128.load(o + c), f));
  const fs = f32x4.extract_lane(f, 0);
  for (; c < end; c += 4) store<f32>(o + c, load<f32>(o + c) * fs);
}

/**
 * Runs work item `chunk` of the segment at p: KV head and query block (latest blocks first,
 * they have the most keys), with `work` this thread's buffer (attendWorkBytes).
 */
export function attendChunk(p: usize, chunk: i32, work: usize): void {
  const q = load<u32>(p, 4);
  const out = load<u32>(p, 8);
  const rows = load<i32>(p, 12);
  const position = load<i32>(p, 16);
  const keys = load<u32>(p, 20);
  const values = load<u32>(p, 24);
  const capacity = load<i32>(p, 28);
  const heads = load<i32>(p, 32);
  const group = load<i32>(p, 36);
  const dk = load<i32>(p, 40);
  const dv = load<i32>(p, 44);
  const fmt = load<i32>(p, 48);
  const scale = load<f32>(p, 52);
  const window = load<i32>(p, 56);
  const sinks = load<u32>(p, 60);
  const kvHeads = heads / group;
  const blocks = (rows + QB - 1) / QB;
  const kvh = chunk % kvHeads;
  const block = blocks - 1 - chunk / kvHeads;
  const r0 = block * QB;
  const r1 = min(rows, r0 + QB);
  const kRowBytes = rowBytesOf(fmt, dk);
  const vRowBytes = rowBytesOf(fmt, dv);
  const kHead = <usize>keys + <usize>kvh * <usize>capacity * kRowBytes;
  const vHead = <usize>values + <usize>kvh * <usize>capacity * vRowBytes;
  // Work buffer: decoded key tile, value tile, two heads' scores and maxima (64 bytes), then
  // (max, sum) per (row, head).
  const kTile = work;
  const vTile = kTile + <usize>TILE * (<usize>dk << 2);
  const sp = vTile + <usize>TILE * (<usize>dv << 2);
  const state = sp + (<usize>TILE << 3) + 64;
  const qRow = <usize>heads * (<usize>dk << 2);
  const oRow = <usize>heads * (<usize>dv << 2);
  for (let i = r0; i < r1; i++) {
    for (let g = 0; g < group; g++) {
      const s = state + (<usize>((i - r0) * group + g) << 3);
      store<f32>(s, -Infinity);
      store<f32>(s, 0, 4);
      memory.fill(<usize>out + <usize>i * oRow + <usize>(kvh * group + g) * (<usize>dv << 2), 0, <usize>dv << 2);
    }
  }
  const last = position + r1 - 1;
  const first = window > 0 ? max(0, position + r0 - window + 1) : 0;
  const dkBytes = <usize>dk << 2;
  const dvBytes = <usize>dv << 2;
  for (let t0 = (first / TILE) * TILE; t0 <= last; t0 += TILE) {
    const t1 = min(t0 + TILE, last + 1);
    let kt: usize;
    let vt: usize;
    if (fmt == F32) {
      kt = kHead + <usize>t0 * kRowBytes;
      vt = vHead + <usize>t0 * vRowBytes;
    } else {
      // Tile rows are consecutive in the cache: one decode of (t1 - t0) rows each.
      decodeRow(fmt, kHead + <usize>t0 * kRowBytes, (t1 - t0) * dk, kTile);
      decodeRow(fmt, vHead + <usize>t0 * vRowBytes, (t1 - t0) * dv, vTile);
      kt = kTile;
      vt = vTile;
    }
    for (let i = r0; i < r1; i++) {
      const pos = position + i;
      const lo = window > 0 ? max(t0, pos - window + 1) : t0;
      const hi = min(t1, pos + 1);
      if (lo >= hi) continue;
      const n = hi - lo;
      let g = 0;
      // Heads in pairs: the same arithmetic per head as one at a time, each key and value row read once for two.
      for (; g + 2 <= group; g += 2) {
        const h = kvh * group + g;
        const s0 = state + (<usize>((i - r0) * group + g) << 3);
        const qp = <usize>q + <usize>i * qRow + <usize>h * dkBytes;
        const sp1 = sp + (<usize>TILE << 2);
        const maxes = sp1 + (<usize>TILE << 2);
        scoreRange2(qp, qp + dkBytes, kt + <usize>(lo - t0) * dkBytes, dkBytes, dk, n, scale, sp, sp1, maxes);
        const corr0 = fold(s0, load<f32>(maxes), sp, n);
        const corr1 = fold(s0 + 8, load<f32>(maxes, 4), sp1, n);
        const op = <usize>out + <usize>i * oRow + <usize>h * dvBytes;
        accumulate2(op, op + dvBytes, vt + <usize>(lo - t0) * dvBytes, dvBytes, dv, n, sp, sp1, corr0, corr1);
      }
      for (; g < group; g++) {
        const h = kvh * group + g;
        const s = state + (<usize>((i - r0) * group + g) << 3);
        const mt = scoreRange(<usize>q + <usize>i * qRow + <usize>h * dkBytes, kt + <usize>(lo - t0) * dkBytes, dkBytes, dk, n, scale, sp);
        const corr = fold(s, mt, sp, n);
        accumulate(<usize>out + <usize>i * oRow + <usize>h * dvBytes, vt + <usize>(lo - t0) * dvBytes, dvBytes, dv, n, sp, corr);
      }
    }
  }
  for (let i = r0; i < r1; i++) {
    for (let g = 0; g < group; g++) {
      const h = kvh * group + g;
      const s = state + (<usize>((i - r0) * group + g) << 3);
      const hasSink = sinks != 0;
      finishRow(<usize>out + <usize>i * oRow + <usize>h * dvBytes, dv, load<f32>(s), load<f32>(s, 4), hasSink, hasSink ? load<f32>(<usize>sinks + (<usize>h << 2)) : 0);
    }
  }
}
