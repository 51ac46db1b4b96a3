# edgecnn — the commands a user and CI run. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EDGECNN := $(VENV)/bin/edgecnn
DATA ?= ../shared/data
TFLRT_VENV ?= .venv-tflite-runtime
PYTEST_ARGS ?=
# Installs come from the committed lock (lock/*.txt: every package pinned with its hashes, for
# Linux/macOS, x86_64 and aarch64, Python >= 3.11); `make lock` refreshes it on purpose.
PIP_VERSION := 26.3
UV_VERSION := 0.13.9
LOCK_VENV ?= .venv-lock
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet -c lock/constraints.txt
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-main test-tflite-runtime demo convert eval bench lint real test-pi fixtures clean help lock lock-check

help:
	@echo "make install | demo | test | convert | eval | bench | lint | real DATA=DIR | test-pi | lock [UPGRADE=1]"

# The workstation: the locked packages (hash-checked, nothing resolved), then the project itself
# without dependencies and without build isolation (setuptools comes from the lock too).
$(VENV)/.installed: pyproject.toml lock/workstation.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(PY) -m pip install -q --require-hashes -r lock/workstation.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

# The default suite: everything but slow / real-data checks, then the edge tests again under
# tflite-runtime with numpy<2 (what Coral set-ups use).
test: test-main test-tflite-runtime

test-main: install
	@mkdir -p runs/tests
	$(PY) -m pytest -m "not slow and not realdata" -q --junitxml=runs/tests/junit-main.xml $(PYTEST_ARGS)

$(TFLRT_VENV)/.installed: pyproject.toml lock/tflite-runtime.txt
	$(PYTHON) -m venv $(TFLRT_VENV)
	$(TFLRT_VENV)/bin/python -m pip install -q --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(TFLRT_VENV)/bin/python -m pip install -q --require-hashes -r lock/tflite-runtime.txt
	$(TFLRT_VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

test-tflite-runtime: $(TFLRT_VENV)/.installed
	@mkdir -p runs/tests
	EDGECNN_BACKEND=tflite_runtime $(TFLRT_VENV)/bin/python -m pytest tests/edge -m "not slow and not realdata" -q \
	  --junitxml=runs/tests/junit-tflite-runtime.xml $(PYTEST_ARGS)

# Train -> convert -> run on the edge runtime, for all three tasks, on built-in synthetic data.
demo: install
	bash scripts/demo.sh

# Convert a trained model: make convert TASK=ecg MODEL=runs/ecg/model.keras [CALIB=DIR] [OUT=x.tflite]
# Without TASK/MODEL it converts the three demo models (make demo trains them).
convert: install
	@if [ -n "$${TASK:-}" ]; then \
	  $(EDGECNN) convert "$$MODEL" --task "$$TASK" $${CALIB:+--calib "$$CALIB"} --out "$${OUT:-$${MODEL%.keras}_int8.tflite}" \
	    --float-out "$${MODEL%.keras}_float32.tflite" $${EVAL:+--eval-data "$$EVAL"}; \
	else \
	  for t in ecg detect face; do \
	    m=runs/demo/$$t/model.keras; \
	    if [ -f $$m ]; then $(EDGECNN) convert $$m --task $$t --out runs/demo/$$t/model_int8.tflite --float-out runs/demo/$$t/model_float32.tflite; \
	    else echo "no $$m: run 'make demo' first or give TASK= and MODEL="; exit 2; fi; \
	  done; \
	fi

# Slow checks and evaluations on the real data sets (needs DATA, default ../shared/data).
eval: install
	EDGECNN_DATA=$(DATA) $(PY) -m pytest -m "slow or realdata" -q $(PYTEST_ARGS)
	EDGECNN_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(PY) -m pytest tests/edge/test_fuzz.py -q $(PYTEST_ARGS)

bench: install
	$(PY) bench/bench_runtime.py
	$(PY) bench/bench_nms.py
	$(PY) bench/bench_soak.py
	@for b in bench/bench_ecg.py bench/bench_detect.py bench/bench_face.py; do \
	  if [ -f $$b ]; then $(PY) $$b --data $(DATA); fi; done
	$(PY) bench/bench_ecg_noise.py --data $(DATA) --model builtin:ecg --out runs/bench/ecg_noise --jobs 2
	$(PY) bench/bench_face_vs_dlib.py --data $(DATA)/faces --skip-missing

lint: install
	$(VENV)/bin/ruff check .

# Train, convert and evaluate the three families on the real data with our best recipes.
real: install
	@test -d "$(DATA)" || { echo "DATA=$(DATA) not found"; exit 2; }
	bash scripts/real_ecg.sh "$(DATA)"
	bash scripts/real_detect.sh "$(DATA)"
	bash scripts/real_face.sh "$(DATA)"

# The edge test suite + CLI smoke run on emulated aarch64 (Debian bookworm = Pi OS 64-bit userland),
# under ai-edge-litert and under tflite-runtime; int8 outputs compared with x86.
test-pi: install
	bash scripts/pi/test_pi.sh

# Refresh the lock from pyproject.toml and lock/*.in (keeps current pins where they still fit;
# UPGRADE=1 moves every package to its newest allowed version). Review the diff, run make test, commit.
$(LOCK_VENV)/.installed:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	touch $@

lock: $(LOCK_VENV)/.installed
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra train --extra dev $(LOCK_FLAGS) $${UPGRADE:+--upgrade} \
	  --custom-compile-command "make lock" -o lock/workstation.txt
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml lock/device.in $(LOCK_FLAGS) $${UPGRADE:+--upgrade} \
	  --custom-compile-command "make lock" -o lock/device.txt
	$(LOCK_VENV)/bin/uv pip compile lock/tflite-runtime.in $(LOCK_FLAGS) $${UPGRADE:+--upgrade} \
	  --custom-compile-command "make lock" -o lock/tflite-runtime.txt

# Fails when pyproject.toml or lock/*.in changed without `make lock` (compiles into a copy, diffs).
lock-check: $(LOCK_VENV)/.installed
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cp lock/*.txt "$$tmp/"; \
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra train --extra dev $(LOCK_FLAGS) --custom-compile-command "make lock" -o "$$tmp/workstation.txt"; \
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml lock/device.in $(LOCK_FLAGS) --custom-compile-command "make lock" -o "$$tmp/device.txt"; \
	$(LOCK_VENV)/bin/uv pip compile lock/tflite-runtime.in $(LOCK_FLAGS) --custom-compile-command "make lock" -o "$$tmp/tflite-runtime.txt"; \
	for f in workstation device tflite-runtime; do \
	  diff -q "lock/$$f.txt" "$$tmp/$$f.txt" >/dev/null || { echo "lock/$$f.txt is out of date with pyproject.toml / lock/*.in: run make lock"; exit 1; }; \
	done; echo "lock: up to date"

fixtures: install
	$(PY) tests/fixtures/make_fixtures.py
	for f in tests/fixtures/make_*_fixture.py; do $(PY) $$f; done

clean:
	rm -rf runs build dist *.egg-info .pytest_cache
