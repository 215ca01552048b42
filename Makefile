# Montage: `make run` serves on http://127.0.0.1:8000, `make test` runs the whole suite.
# Both set everything up first through `make install` (idempotent, quick when nothing changed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-postgres lint system-packages test-system-packages bench

install: $(VENV)/.requirements system-packages
	@$(BIN)/python manage.py migrate --noinput -v 0
	@$(BIN)/python manage.py createcachetable

$(VENV)/.requirements: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@touch $@

# ffmpeg is the system package the service needs, with the DejaVu fonts its libass draws burned captions in
# (fonts-dejavu-core comes with Debian's ffmpeg almost always; installed here when it did not).
system-packages:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  echo "Installing ffmpeg (Debian package)..."; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg; }
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || { \
	  echo "Installing fonts-dejavu-core (captions)..."; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core; }

# The tests and benchmarks also speak with espeak-ng (a known sentence to transcribe), drive Chromium and start a
# Redis server of their own for the Celery backend's workers.
test-system-packages:
	@command -v espeak-ng >/dev/null && command -v chromium >/dev/null && command -v redis-server >/dev/null || { \
	  echo "Installing test packages (espeak-ng, chromium, redis-server)..."; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng chromium redis-server; }

run: install
	@$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install test-system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The database-bound tests again, on the local PostgreSQL (CI does this after `make test`).
test-postgres: install test-system-packages
	DATABASE_URL=$${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest -m "db_bound and not browser" $(PYTEST_ARGS)

lint: $(VENV)/.requirements
	$(BIN)/ruff check .
	$(BIN)/mypy videos/taskmanager

bench: install test-system-packages
	$(BIN)/python bench/run_all.py
