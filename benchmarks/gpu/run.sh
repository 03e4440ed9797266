#!/usr/bin/env bash
# The 7B benchmark on a lent GPU (one H200: about 8 minutes), from any directory:
#   benchmarks/gpu/run.sh [bench_7b.py options]
# Needs python3 with CUDA torch and this package's requirements (transformers 5.24, av, ...). On a machine without a
# package index, put the missing ones as wheels in a folder and set WHEELS to it: they are installed to a scratch
# folder first. The output is also written to $LOG (default: bench_7b.log in the current directory).
set -euo pipefail
log=$(realpath "${LOG:-bench_7b.log}")
cd "$(dirname "$0")/../.."
if [ -n "${WHEELS:-}" ]; then
  site=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$WHEELS"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log"
timeout 540 python3 benchmarks/gpu/bench_7b.py "$@" 2>&1 | tee -a "$log"
