# The README's two commands: `make demo` and `make test`. Each creates the virtual environment
# .venv if it is missing and installs requirements.txt into it (skipped when nothing changed).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean-data

demo: $(STAMP)
	$(PY) demo.py

test: $(STAMP)
	$(PY) -m pytest -q tests

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	grep -v 'no-deps' requirements.txt > $(VENV)/requirements-deps.txt
	grep 'no-deps' requirements.txt | sed 's/#.*//' > $(VENV)/requirements-nodeps.txt
	$(PY) -m pip install --disable-pip-version-check -q -r $(VENV)/requirements-deps.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r $(VENV)/requirements-nodeps.txt
	touch $(STAMP)

clean-data:
	rm -rf data
