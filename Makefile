# The README's two commands: `make demo` and `make test`. Each creates the virtual environment
# .venv if it is missing and installs requirements.txt into it (skipped when nothing changed).
# `make bench` runs every benchmark and writes docs/benchmarks.md.
# `make install GPU=1` adds TensorFlow's CUDA libraries (the tensorflow[and-cuda] extra, same version)
# for NVIDIA GPUs (docs/distributed.md).
PYTHON ?= python3
GPU    ?=
# `make test` runs the tests in this many pytest-xdist processes, each test module whole in one of them
# (tests/conftest.py): with 2, 521-558 s of pytest against 745 s in one on 2 cores (docs/tests.md);
# TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 2
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench install clean-data

demo: $(STAMP)
	$(PY) -m experiments.demo

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

# Every benchmark, one table, printed and written to docs/benchmarks.md (bench/run_all.py;
# BENCH_ARGS=--quick for a few minutes; a partial run leaves the page as it is unless --page PATH is given).
bench: $(STAMP)
	$(PY) bench/run_all.py $(BENCH_ARGS)

install: $(STAMP) $(if $(GPU),$(VENV)/.installed-gpu)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); Keras 3.15 needs Python 3.11 or newer (make PYTHON=python3.11 ...)" >&2; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	grep -v 'no-deps' requirements.txt > $(VENV)/requirements-deps.txt
	grep 'no-deps' requirements.txt | sed 's/#.*//' > $(VENV)/requirements-nodeps.txt
	$(PY) -m pip install --disable-pip-version-check -q -r $(VENV)/requirements-deps.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r $(VENV)/requirements-nodeps.txt
	touch $(STAMP)

# TensorFlow's CUDA libraries, once per environment (make install GPU=1).
$(VENV)/.installed-gpu: $(STAMP)
	$(PY) -m pip install --disable-pip-version-check -q \
		"tensorflow[and-cuda]==$$(sed -n 's/^tensorflow==//p' requirements.txt)"
	touch $@

clean-data:
	rm -rf data
