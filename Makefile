# modelmux developer entry points. `make run` and `make test` are the two promised commands;
# both create the virtualenv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
PYTEST_ARGS ?=

.PHONY: help venv run test lint fmt typecheck check bench soak deb clean

help:
	@echo "make run        start modelmuxd on 127.0.0.1:3000 against the bundled Vertex emulator"
	@echo "make test       run the whole test suite (creates .venv on first use)"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make fmt        ruff format + ruff check --fix"
	@echo "make typecheck  mypy"
	@echo "make check      lint, typecheck and test"
	@echo "make deb        build dist/modelmux_<version>_<arch>.deb (installs build deps as root)"
	@echo "make deb-lint   run lintian on the built .deb"
	@echo "make bench      benchmark the daemon against the emulator floor (not in CI)"
	@echo "make soak       1,000 concurrent streams through the daemon (not in CI)"
	@echo "make clean      remove the virtualenv and caches"

venv: $(VENV)/.stamp

# Debian's python3 ships without venv/ensurepip; install it when we can (root), else say so.
$(VENV)/.stamp: setup.cfg pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	  else echo "error: $(PYTHON) lacks venv; run: sudo apt-get install python3-venv" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c $(CONSTRAINTS) -e '.[test]'
	@touch $@

run: venv
	$(BIN)/modelmuxd --emulator

test: venv
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check modelmux tests
	$(BIN)/ruff format --check modelmux tests

fmt: venv
	$(BIN)/ruff format modelmux tests
	$(BIN)/ruff check --fix modelmux tests

typecheck: venv
	$(BIN)/mypy modelmux

check: lint typecheck test

# Packaging and other optional targets live in mk/*.mk.
-include mk/*.mk

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
