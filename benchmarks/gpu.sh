#!/usr/bin/env bash
# The GPU checks of issue 25, in under 10 minutes: outputs in fp32/fp16/bf16 against the CPU, images/s
# at 512 and 1024 px with batching, --compile, video frames/s, and `adain train` iterations/s.
#
#   benchmarks/gpu.sh [--dry-run] [--device cuda:N]      (from the repository root)
#
# Each step runs in its own process under its own time limit, so one that hangs or fails costs only
# itself; the figures go to stdout as "step: …" lines. --dry-run starts every step on the CPU at toy
# sizes and times nothing (tests/test_gpu_script.py runs it).
set -uo pipefail
cd "$(dirname "$0")/.."
dry_run="" device="cuda"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run="--dry-run" ;;
    --device) device="$2"; shift ;;
    *) echo "usage: benchmarks/gpu.sh [--dry-run] [--device cuda:N]" >&2; exit 2 ;;
  esac
  shift
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-python3}"
failed=0
# step and seconds allowed: 60 + 120 + 150 + 90 + 120 = 540 s at most
for entry in machine:20 precision:60 images:120 compile:150 video:90 train:120; do
  step="${entry%%:*}" limit="${entry##*:}"
  if ! timeout "$limit" "$python" benchmarks/gpu_checks.py "$step" --device "$device" $dry_run; then
    echo "$step: FAILED or over ${limit} s" >&2
    failed=1
  fi
done
# Issue 36: StyleAugment on a 32×3×224×224 batch already on the GPU, against single-image calls (90 s at most).
[ -z "$dry_run" ] && { timeout 90 "$python" benchmarks/bench_augment.py --device "$device" --skip-bank || failed=1; }
# Issue 35: the pipeline around the network (a stand-in for it, on the CPU): outputs/s at 1, 2 and 8 io threads.
[ -z "$dry_run" ] && { timeout 240 "$python" benchmarks/bench_pipeline.py --threads 1 2 8 --photos 96 || failed=1; }
[ -z "$dry_run" ] && "$python" benchmarks/bench_decoder.py --device "$device" --precision fp16 --repeats 3 2>&1 | tail -12
exit "$failed"
