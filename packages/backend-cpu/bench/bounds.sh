#!/bin/sh
# What bounds the kernels on this machine (a script, not a test; about two minutes): the same
# kernels on weights that stay in L2 (their compute rate) and on a working set far past the
# last-level cache (DRAM), on one and two threads, and the float32 panel GEMM as rows grow (its
# compute peak). Each line is bench/linear-gemv.mjs's best of 15 rounds.
#   sh bench/bounds.sh
set -e
cd "$(dirname "$0")/.."
gemv() { env N="$1" K="$2" COPIES="$3" R="$4" ROWS="$5" node bench/linear-gemv.mjs "$6" "$7" "$8"; }
echo "# row kernels, one activation row: from L2, then from DRAM"
for f in q8_0 q4_k mxfp4; do
  gemv 512 2048 1 2000 1 "$f" q8 1
  gemv 2048 2048 100 100 1 "$f" q8 1
  gemv 2048 2048 100 100 1 "$f" q8 2
done
gemv 256 2048 1 2000 1 float32 float32 1
gemv 3584 1024 200 100 1 float32 float32 1
gemv 3584 1024 200 100 1 float32 float32 2
echo "# float32 panel GEMM, 2 threads, [3584 x 1024] from DRAM, then from cache as rows grow"
for rows in 2 4 8; do gemv 3584 1024 200 100 "$rows" float32 float32 2; done
for rows in 16 64 128; do gemv 3584 1024 4 20 "$rows" float32 float32 2; done
