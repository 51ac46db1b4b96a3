"""pytest plugin for test_pi.sh: survive a test that kills the interpreter (segfault in a TFLite kernel).

    PI_PYTEST_STATE=state.jsonl python -m pytest -p pytest_resume ...

Every test's start and final outcome are appended to the state file (flushed at once). When the
run dies, the test that started and never finished is the one that crashed; running pytest again
with the same state file deselects every test already recorded, so the run resumes after it.
``python pytest_resume.py STATE`` prints the counts (passed, failed, skipped, xfailed, crashed, ...) as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

_outcomes: dict[str, str] = {}


def _state() -> Path | None:
    path = os.environ.get("PI_PYTEST_STATE")
    return Path(path) if path else None


def _append(record: dict) -> None:
    path = _state()
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_state(path: Path) -> dict[str, str]:
    """nodeid -> outcome (passed, failed, error, skipped, xfailed, xpassed, crashed) from a state file."""
    started, done = [], {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["event"] == "start":
                started.append(rec["nodeid"])
            else:
                done[rec["nodeid"]] = rec["outcome"]
    for nodeid in started:
        done.setdefault(nodeid, "crashed")
    return done


def pytest_collection_modifyitems(config, items):
    path = _state()
    if path is None:
        return
    seen = read_state(path)
    keep = [item for item in items if item.nodeid not in seen]
    dropped = [item for item in items if item.nodeid in seen]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_runtest_logstart(nodeid, location):
    _append({"event": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report):
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    previous = _outcomes.get(report.nodeid)
    if previous in (None, "passed") or (previous in ("skipped", "xfailed", "xpassed") and outcome in ("failed", "error")):
        _outcomes[report.nodeid] = outcome


def pytest_runtest_logfinish(nodeid, location):
    _append({"event": "finish", "nodeid": nodeid, "outcome": _outcomes.pop(nodeid, "passed")})


def main(argv: list[str]) -> int:
    state = read_state(Path(argv[0]))
    counts = {k: 0 for k in ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "crashed")}
    for outcome in state.values():
        counts[outcome] += 1
    counts["crashed_tests"] = sorted(n for n, o in state.items() if o == "crashed")
    counts["failed_tests"] = sorted(n for n, o in state.items() if o in ("failed", "error"))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
