# Two commands on a machine with only python3: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= demo_output

.PHONY: demo test lint bench clean

$(VENV)/.base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[plots]'
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PY) -m pip install -e '.[dev]'
	touch $@

# The main job on embedded defaults: synthetic shapes in COCO and VOC layouts, trained from scratch on the CPU,
# evaluated, with prediction pictures written under $(OUT).
demo: $(VENV)/.base
	$(PY) -m detection.demo --output-dir $(OUT)/detection
	$(PY) -m segmentation.demo --output-dir $(OUT)/segmentation
	@echo "demo done: each demo printed the folder its results are in (under $(OUT))"

test: $(VENV)/.dev
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.base
	$(PY) -m ghost_backbones.bench

clean:
	rm -rf $(VENV) $(OUT)
