# perfcore: `make demo` and `make test` do everything on a fresh machine (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
export PYO3_PYTHON := $(CURDIR)/$(PY)
export CARGO_TERM_COLOR ?= never
# hypothesis profile: quick for `make test`, long for `make soak`
export PERFCORE_HYPOTHESIS_PROFILE ?= ci

.PHONY: demo test develop rust-checks rust-test bench-smoke py-test stubcheck bench soak lint clean perf-tool memcheck loom

demo: develop
	$(VENV)/bin/perfcore demo

test: rust-checks rust-test bench-smoke loom develop py-test stubcheck memcheck
	@echo "make test: all checks passed"

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Debian's linux-perf, for the differential tests against the real perf tool.
perf-tool:
	@if ! command -v perf >/dev/null 2>&1; then \
	  echo "installing linux-perf (perf not found)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; \
	fi

# Build the extension (release) into the venv; cargo makes this a no-op when nothing changed.
develop: $(VENV)/.deps perf-tool
	$(VENV)/bin/maturin develop --release --quiet

rust-checks: $(VENV)/.deps
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

rust-test: $(VENV)/.deps
	cargo test --locked

bench-smoke: $(VENV)/.deps
	cargo test --locked --benches

# Concurrency protocols under loom's model checker (ring head/tail publication).
LOOM_TESTS := $(patsubst tests/%.rs,--test %,$(wildcard tests/loom_*.rs))
loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
	  cargo test --locked --release $(LOOM_TESTS)

py-test: develop
	$(PY) -m pytest -q tests

stubcheck: develop
	$(PY) -m mypy.stubtest perfcore._core --allowlist .stubtest-allowlist
	$(PY) -m mypy --strict python/perfcore

bench: develop
	cargo bench --bench '*' -- --noplot
	$(PY) -m pytest -q benches/python -o python_files='bench_*.py' --benchmark-enable --benchmark-only --benchmark-columns=median,ops

soak: develop
	PERFCORE_HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q tests/stateful tests/test_sched.py::TestSchedMachine tests/test_slab.py::TestCacheMachine

lint: rust-checks stubcheck

clean:
	rm -rf $(VENV) target

# Leaks: the Rust unit tests and a Python scenario under valgrind; fails on any definite leak
# whose stack passes through perfcore.
memcheck: develop
	cargo test --locked --lib --no-run --message-format=json 2>/dev/null \
	  | $(PY) -c 'import json,sys; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("executable") and m.get("target",{}).get("kind")==["lib"]]' > target/.memcheck-bins
	$(PY) tools/memcheck.py $$(cat target/.memcheck-bins) -- $(PY) tools/memcheck_scenario.py
