# The two commands a new user needs: `make run` and `make test`. Each builds .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TG_DATA_DIR ?= $(CURDIR)/data
#: The UI's port for `make dev`; a busy one is reported instead of silently replaced.
#: The services log warnings only: at info, the daemon writes a line per sensor tick.
DAGSTER_PORT ?= 3000
#: The instance `make dev`, `make run` and `tg-pipeline` share; a new one gets the one local
#: instance config, tg_pipeline/deploy/embedded/dagster.yaml.
INSTANCE_HOME := $(or $(DAGSTER_HOME),$(TG_DATA_DIR)/dagster_home)

#: pytest worker processes for `make test`; the suite waits on services as much as it computes.
TEST_WORKERS ?= 2

.PHONY: run dev test lint bench clean venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m tg_pipeline.demo

dev: $(STAMP)
	$(BIN)/python -m tg_pipeline.deploy "$(INSTANCE_HOME)"
	@$(BIN)/python -c "import socket, sys; busy = socket.socket().connect_ex(('127.0.0.1', $(DAGSTER_PORT))) == 0; sys.exit('port $(DAGSTER_PORT) is busy (another make dev?); try: make dev DAGSTER_PORT=3001' if busy else 0)"
	@echo "Dagster UI: http://127.0.0.1:$(DAGSTER_PORT)  (data: $(TG_DATA_DIR); Ctrl-C stops it)"
	DAGSTER_HOME="$(INSTANCE_HOME)" $(BIN)/dagster dev -m tg_pipeline.definitions -p $(DAGSTER_PORT) --log-level warning

lint: $(STAMP)
	$(BIN)/ruff check tg_pipeline tg_pipeline_tests
	$(BIN)/ruff format --check tg_pipeline tg_pipeline_tests
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/ruff check tg_pipeline tg_pipeline_tests
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tg_pipeline_tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache
