# Two commands on a machine with only python3: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo_output

.PHONY: demo test lint bench clean

$(VENV)/.base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PY) -m pip install -e '.[dev]'
	touch $@

demo: $(VENV)/.base
	$(PY) -m ghost_backbones.demo --output-dir $(OUT)

test: $(VENV)/.dev
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.base
	$(PY) -m ghost_backbones.benchmark

clean:
	rm -rf $(VENV) $(OUT)
