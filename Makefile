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
# Each demo prints the time of its stages; the last line is the whole command's (the quick recipes: about 2.5
# minutes on our 2-core machines; the longer ones are a flag away, see the demo recipes' comments).
demo: $(VENV)/.base
	@start=$$(date +%s); \
	$(PY) -m detection.demo --output-dir $(OUT)/detection && \
	$(PY) -m segmentation.demo --output-dir $(OUT)/segmentation && \
	echo "demo done in $$(( $$(date +%s) - start )) s: each demo printed the folder its results are in (under $(OUT))"

test: $(VENV)/.dev
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.base
	$(PY) -m ghost_backbones.bench

clean:
	rm -rf $(VENV) $(OUT)
