# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
# Extra pip options for the install, e.g. `-c constraints.txt` or `--upgrade` (see .ci/run).
PIP_OPTIONS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check $(PIP_OPTIONS) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the demo: demo data in place (a live demo campaign with offers, rewards and invites; two
## bound numbers), demo mode (sandbox payment and carrier gateway), SQLite under ./var/, and the
## console front end when BOT_TOKEN is unset.
run: $(STAMP)
	DEMO_MODE=true LOG_LEVEL=WARNING $(BIN)/python -m bot seed-demo
	DEMO_MODE=true $(BIN)/python -m bot run

## Run every test (PostgreSQL tests too when TEST_POSTGRES_URL is set).
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot handlers domain scheduler tests

## Benchmarks: scripts that print figures (each says whether it meets its target).
bench: $(STAMP)
	for script in tests/bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

## The dashboard's overview in Chinese and English, drawn by headless Chromium, under var/screenshots/.
screenshots: $(STAMP)
	@command -v chromium >/dev/null || { echo "make screenshots needs Debian's chromium: apt-get install chromium"; exit 1; }
	@fc-list :lang=zh | grep -q . || { echo "make screenshots needs a Chinese font: apt-get install fonts-wqy-microhei"; exit 1; }
	mkdir -p var/screenshots
	DASHBOARD_SCREENSHOTS=var/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/dashboard/test_browser.py -k 'sqlite and staff_sign_in'

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
