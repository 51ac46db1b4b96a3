#!/usr/bin/env bash
# make demo: each task end to end on built-in synthetic data (train -> convert -> edge runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
for task in ecg detect face; do
  echo "=== demo: $task ==="
  bash "scripts/demo_${task}.sh"
done
echo "=== demo finished: models and outputs under runs/demo/ ==="
