# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# The instance folder (database, secret key, data) the app uses: SANITY_INSTANCE_PATH or ./instance.
INSTANCE := $(or $(SANITY_INSTANCE_PATH),instance)

.PHONY: run test lint lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Exact versions from the lock (what CI tests), then the project itself.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# After changing dependencies in pyproject.toml: pin them again (pip-tools).
lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --upgrade --extra dev --strip-extras --no-emit-index-url \
		-o requirements.lock pyproject.toml

$(INSTANCE)/secret_key: | $(BIN)/python
	mkdir -p $(INSTANCE)
	umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $@

run: $(STAMP) $(INSTANCE)/secret_key
	$(BIN)/sanity db upgrade
	$(BIN)/sanity serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sanity tests bench config.py migrations
	$(BIN)/ruff format --check sanity tests bench config.py migrations

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
