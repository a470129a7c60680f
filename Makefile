# Every target sets up its own virtual environment, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench screenshot clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m capture.cli.demo

test: $(STAMP)
	tests/system-packages.sh
	$(BIN)/python -m pytest -q

# docs/report.png: a real run against the built-in target, its `capture report`, in Chromium.
screenshot: $(STAMP)
	tests/system-packages.sh
	$(BIN)/python tests/browser/screenshot.py docs/report.png

lint: $(STAMP)
	$(BIN)/ruff check capture tests migrations $(wildcard bench)
	$(BIN)/ruff format --check capture tests migrations $(wildcard bench)
	$(BIN)/mypy capture

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/profile.py --section bench/RESULTS.md
	$(BIN)/python bench/bigdb.py --section bench/RESULTS.md
	$(BIN)/python bench/report_build.py --section bench/RESULTS.md
	$(BIN)/python bench/soak.py --duration 600 --section bench/RESULTS.md

clean:
	rm -rf $(VENV) build *.egg-info
