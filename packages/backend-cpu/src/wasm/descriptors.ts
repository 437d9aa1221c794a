/** The batch descriptors the kernels read (see assembly/index.ts): 16 int32 fields each. */
import type { DType } from '@moe-runtime/core';

/** Epilogue applied to a descriptor's columns after its GEMM. */
export const enum Epilogue {
  Plain = 0,
  SwiGLU = 1,
  Gelu = 2,
  Relu = 3,
  /** gpt-oss's clamped SwiGLU, on SwiGLU's gated layout. */
  ClampedSwiGLU = 4,
}

/** Weight format codes of assembly/rows.ts: 0 is float32 packed into panels, the rest are stored rows. */
export const WeightFormat = {
  panels: 0,
  float32: 1,
  float16: 2,
  bfloat16: 3,
  q8_0: 4,
  q4_0: 5,
  q4_k: 6,
  q5_k: 7,
  q6_k: 8,
  mxfp4: 9,
  q5_0: 10,
} as const satisfies Record<DType | 'panels', number>;

/** Bytes per descriptor. */
export const DESC_BYTES = 64;

/** One GEMM C = A B (+ bias) with an epilogue; addresses are byte offsets in the memory. */
export interface GemmDesc {
  readonly epilogue: Epilogue;
  readonly a: number;
  readonly lda: number;
  readonly m: number;
  readonly k: number;
  readonly b: number;
  readonly panels: number;
  /** 0 = no bias */
  readonly bias: number;
  readonly c: number;
  readonly ldc: number;
  /** SwiGLU only: where silu(gate) * up goes, and its row stride. */
  readonly out?: number;
  readonly ldo?: number;
  /** Format of the rows at `b` ({@link WeightFormat}); default packed panels. */
  readonly fmt?: number;
  /** Row formats, SwiGLU: the up rows and their format. */
  readonly b2?: number;
  readonly fmt2?: number;
  /** Row formats: rows per weight tensor. */
  readonly n?: number;
}

/** Writes descriptor `index` of the table at byte `table` (addresses may exceed 2^31: stored as their low 32 bits). */
export function writeDesc(i32: Int32Array, table: number, index: number, d: GemmDesc): void {
  const o = (table + index * DESC_BYTES) >>> 2;
  i32[o] = d.epilogue;
  i32[o + 1] = d.a;
  i32[o + 2] = d.lda;
  i32[o + 3] = d.m;
  i32[o + 4] = d.k;
  i32[o + 5] = d.b;
  i32[o + 6] = d.panels;
  i32[o + 7] = d.bias;
  i32[o + 8] = d.c;
  i32[o + 9] = d.ldc;
  i32[o + 10] = d.out ?? 0;
  i32[o + 11] = d.ldo ?? 0;
  i32[o + 12] = d.fmt ?? WeightFormat.panels;
  i32[o + 13] = d.b2 ?? 0;
  i32[o + 14] = d.fmt2 ?? WeightFormat.panels;
  i32[o + 15] = d.n ?? 0;
}
