#!/usr/bin/env bash
# make demo: each task end to end on built-in synthetic data (train -> convert -> edge runtime),
# plus the shipped ECG model on a real MIT-BIH excerpt; ends with one table of what was measured.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
PY=${PY:-.venv/bin/python}
start=$SECONDS
rm -f runs/demo/*/demo_summary.json   # the table shows this run only
for task in ecg detect face; do
  echo "=== demo: $task ==="
  t=$SECONDS
  bash "scripts/demo_${task}.sh"
  echo "=== demo: $task took $((SECONDS - t)) s ==="
done
echo
echo "=== demo finished in $((SECONDS - start)) s: models and outputs under runs/demo/ ==="
$PY - <<'PY'
import json
from pathlib import Path

rows = []
for task in ("ecg", "detect", "face"):
    f = Path("runs/demo") / task / "demo_summary.json"
    if not f.is_file():
        raise SystemExit(f"demo: {f} missing: the {task} demo did not finish")
    rows += json.loads(f.read_text())
head = ("job", "metric (int8 unless it says float)", "model file", "picture to open")
def value(v):
    return f"{v:.3f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


table = [(r["job"], f"{r['metric']} {value(r['value'])}", r["file"], r.get("picture") or "-") for r in rows]
widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
print(line(head))
print(line(["-" * w for w in widths]))
for t in table:
    print(line(t))
PY
