#!/usr/bin/env bash
# One GPU session's checks in one command (about 10 minutes): the CUDA tests, the WARP step
# benchmark on CUDA, and the full-scale paper table on MSD at a reduced equal budget.
#
#   pip wheel --no-deps -w .whl .                                  # on the machine you send from
#   OUT=gpu_results bash benchmarks/gpu_session.sh [BUDGET_S]    # default 30 s per model
#
# The project is installed from the wheel in .whl/ into /tmp/site over the GPU machine's own
# torch, numpy and xarray (it has no network: no dependencies are fetched).
# Writes 7 files into $OUT: tests.txt, warp_step_ar.{txt,json}, warp_step_quick.json,
# forecast_loss.txt, paper_table_full.{txt,jsonl}. Every stage has its own time limit, so a slow stage cannot
# take the others' time; the paper table appends each finished model to its .jsonl.
set -u
OUT=${OUT:-gpu_results}
BUDGET=${1:-30}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

$PY -m pip install -q --no-deps --no-index --target /tmp/site .whl/warp_phys-*.whl >"$OUT/tests.txt" 2>&1
export PYTHONPATH=/tmp/site
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  (cd /tmp && $PY -c "import torch, warp_phys; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), warp_phys.__file__)")
  (cd tests && timeout 90 $PY -m pytest -q -p no:cacheprovider test_cuda.py); } >>"$OUT/tests.txt" 2>&1

timeout 90 $PY benchmarks/warp_step.py --only autoregressive --rounds 1 --device cuda \
    --json "$OUT/warp_step_ar.json" >"$OUT/warp_step_ar.txt" 2>&1
timeout 120 $PY benchmarks/warp_step.py --quick --device cuda --json "$OUT/warp_step_quick.json" \
    >>"$OUT/warp_step_ar.txt" 2>&1

timeout 60 $PY benchmarks/forecast_loss.py --device cuda >"$OUT/forecast_loss.txt" 2>&1

timeout 250 $PY benchmarks/paper_table.py --scale full --device cuda --datasets msd --seeds 0 \
    --models warp warp_prior gru lstm transformer node --budget "$BUDGET" \
    --resume "$OUT/paper_table_full.jsonl" >"$OUT/paper_table_full.txt" 2>&1
echo "done"
