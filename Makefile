# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRA := $(PYTHON) infra/omsinfra.py
PACKAGES := libs/contracts libs/platform tools services/ingest services/orders services/inventory services/fulfilment services/printing
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

# `make test` runs its own infrastructure on other ports and a fresh data folder, so it never
# touches the data of a `make run` (and both can run side by side).
TEST_INFRA_ENV := OMS_INFRA_DIR=$(CURDIR)/.oms/test-infra OMS_KAFKA_PORT=29092 OMS_KAFKA_CONTROLLER_PORT=29093 OMS_MONGO_PORT=27217

.PHONY: help run stop test unit-test install system-deps infra-up infra-down infra-status schemas bench

help:
	@echo "make run     start Kafka, FerretDB and all five services with a demo shop (Ctrl-C stops)"
	@echo "make test    run every test (starts and stops its own infrastructure)"
	@echo "make stop    stop what 'make run' started"
	@echo "make infra-up | infra-down | infra-status    the local Kafka + FerretDB only"
	@echo "make unit-test    the tests that need no infrastructure"
	@echo "make schemas      export the message JSON Schemas and asyncapi.json to build/schemas"
	@echo "make bench        benchmark scripts on the local infrastructure (BENCH_ARGS='--orders 100000')"

system-deps:
	@bash infra/system-deps.sh

$(VENV)/.installed: $(PYPROJECTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(foreach p,$(PACKAGES),-e "$(p)[test]")
	touch $@

install: $(VENV)/.installed

infra-up:
	@$(INFRA) up

infra-down:
	@$(INFRA) down

infra-status:
	@$(INFRA) status

run: system-deps install
	@$(INFRA) up
	@trap '' INT; $(PY) -m oms_devtools.run; status=$$?; $(INFRA) down; exit $$status

stop:
	@if [ -f .oms/run/run.pid ] && kill -0 $$(cat .oms/run/run.pid) 2>/dev/null; then \
	  kill -TERM $$(cat .oms/run/run.pid); \
	  for i in $$(seq 1 60); do kill -0 $$(cat .oms/run/run.pid 2>/dev/null) 2>/dev/null || break; sleep 0.5; done; \
	fi
	@$(INFRA) down

unit-test: install
	$(PY) -m pytest -m "not integration" -q

test: system-deps install
	@$(TEST_INFRA_ENV) $(INFRA) up --reset
	@set -a; source .oms/test-infra/infra.env; set +a; \
	  $(PY) -m pytest -q; status=$$?; \
	  $(TEST_INFRA_ENV) $(INFRA) down; exit $$status

schemas: install
	$(PY) -m oms_contracts export-schemas build/schemas

bench: install
	@$(INFRA) up
	@set -a; source .oms/infra/infra.env; set +a; $(PY) benchmarks/orders_list.py $(BENCH_ARGS)
