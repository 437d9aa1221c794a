/** The batch descriptors the kernels read (see assembly/index.ts): 12 int32 fields each. */

/** Epilogue applied to a descriptor's columns after its GEMM. */
export const enum Epilogue {
  Plain = 0,
  SwiGLU = 1,
  Gelu = 2,
  Relu = 3,
}

/** Bytes per descriptor. */
export const DESC_BYTES = 48;

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
}

/** Writes descriptor `index` of the table at byte `table`. */
export function writeDesc(i32: Int32Array, table: number, index: number, d: GemmDesc): void {
  const o = (table + index * DESC_BYTES) >> 2;
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
}
