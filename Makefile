# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both create .venv if missing and install the pinned versions once (a stamp file makes a
# second run install nothing until pyproject.toml or constraints.txt change).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test lint format demo-cli bench screenshots package lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/transfer-studio gui --demo

# Tests never reach the network (tests/conftest.py also sets this).
test: setup
	TRANSFER_STUDIO_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# ruff (lint + format check), mypy (engine/ and desktop_app/, pydantic plugin), import-linter
# (engine never imports Qt; desktop_app never imports torch). Settings live in pyproject.toml.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole demo through the CLI: data, training, export, prediction.
demo-cli: setup
	$(BIN)/transfer-studio demo demo-data
	$(BIN)/transfer-studio train --source demo-data/source --target demo-data/target/train \
	    --target-test demo-data/target/test --epochs 5 --runs-dir runs --name demo-source-only
	$(BIN)/transfer-studio export runs/demo-source-only
	$(BIN)/transfer-studio predict runs/demo-source-only/exports/model.onnx demo-data/target/test --csv runs/demo-predictions.csv

bench: setup
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

screenshots: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m desktop_app.screenshots docs/screenshots

# The desktop bundle and its .deb (README: "Desktop bundle"): PyInstaller builds dist/transfer-studio/,
# the package's file tree is staged, the smoke test runs the app through the tree's /usr/bin links
# (CLI: demo, one epoch of training, export with its parity check, predict; GUI offscreen until
# torch is ready), then dist/transfer-studio_<version>_amd64.deb is written.
# PACKAGE_PYTHON=/path/to/python builds from an existing environment instead of .venv.
PACKAGE_PYTHON ?=
package:
	PYTHON="$(PACKAGE_PYTHON)" bash packaging/build.sh
	bash packaging/build_deb.sh stage
	bash packaging/smoke_test.sh build/deb/root/usr/bin
	bash packaging/build_deb.sh deb

# Refresh constraints.txt from the environment the tests passed in.
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) *.egg-info
