# The two commands of the README: `make run` and `make test`. Nothing else is needed on a
# fresh machine with Python 3.11, git and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000
# Local development runs with DEBUG on; production sets DJANGO_SECRET_KEY and leaves DEBUG off.
DEV_ENV := DJANGO_DEBUG=1

.PHONY: run test lint format bench clean

# XStatic-Bootstrap (the Bootstrap files served locally) is only published as a source archive
# whose build needs setuptools' pkg_resources, which newer setuptools releases dropped; so the
# build tools are pinned into the venv and the requirements are built against them.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet setuptools==80.9.0 wheel==0.45.1

$(VENV)/.runtime: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet --no-build-isolation -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --no-build-isolation -r requirements-dev.txt
	touch $@

# One background worker runs beside the web server (the safety summary, casebooks and exports
# are made by it) and is stopped when the server stops: the database backend's db_worker, or an
# RQ worker when REDIS_URL is set.
ifdef REDIS_URL
WORKER := rqworker --job-class django_tasks_rq.Job default
else
WORKER := db_worker --no-reload
endif

run: $(VENV)/.runtime
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py seed_demo --if-empty
	$(DEV_ENV) $(BIN)/python manage.py $(WORKER) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(DEV_ENV) $(BIN)/python manage.py runserver $(HOST)

# The suite runs on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: $(VENV)/.dev
	$(BIN)/pytest -n $(TEST_WORKERS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Each benchmark prints one JSON line and writes bench/results/<name>.json. bench.load needs
# PostgreSQL on 127.0.0.1:5432 (it creates and drops its own database).
bench: $(VENV)/.dev
	$(BIN)/python -m bench.grading
	$(BIN)/python -m bench.casebook
	$(BIN)/python -m bench.pages
	$(BIN)/python -m bench.dlt
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
