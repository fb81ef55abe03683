# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# The suite mostly waits (servers starting, agents polling, pages pushing), so it runs in more processes
# than there are cores; each has its own PostgreSQL, Redis and run folder (tests/conftest.py).
TEST_PROCESSES ?= 4
PYTEST := $(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadgroup

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[test]"
	@touch $@

## run: the portal, a Celery worker and beat, a private Redis, on a SQLite file under var/
run: $(VENV)/.installed
	@exec $(BIN)/python -m portal.launcher

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: lint, then the whole suite on a PostgreSQL and a Redis it starts itself, then the SQLite pass
test: $(VENV)/.installed-test lint
	VAR_DIR=$$(mktemp -d) $(BIN)/python manage.py makemigrations --check --dry-run
	$(PYTEST)
	TEST_DATABASE=sqlite $(PYTEST) -m sqlite

## bench: the benchmarks in tests/bench (not part of `make test`), on a PostgreSQL and a Redis they start
bench: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/bench -s -p no:cacheprovider -o addopts="" --timeout 3600

clean:
	rm -rf $(VENV) test-artifacts
