# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRA := $(PYTHON) infra/omsinfra.py
PACKAGES := libs/contracts libs/platform tools services/ingest services/orders services/inventory services/fulfilment services/printing services/console
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

# `make test` runs its own infrastructure on other ports and a fresh data folder, so it never
# touches the data of a `make run` (and both can run side by side).
TEST_INFRA_ENV := OMS_INFRA_DIR=$(CURDIR)/.oms/test-infra OMS_KAFKA_PORT=29092 OMS_KAFKA_CONTROLLER_PORT=29093 OMS_MONGO_PORT=27217
# `make bench` and `make faults` get infrastructure of their own too: their services use the same consumer group
# ids as `make run`'s, so on a shared broker the two systems would split each other's partitions.
BENCH_INFRA_ENV := OMS_INFRA_DIR=$(CURDIR)/.oms/bench-infra OMS_KAFKA_PORT=29192 OMS_KAFKA_CONTROLLER_PORT=29193 OMS_MONGO_PORT=27317
FAULTS_INFRA_ENV := OMS_INFRA_DIR=$(CURDIR)/.oms/faults-infra OMS_KAFKA_PORT=29292 OMS_KAFKA_CONTROLLER_PORT=29293 OMS_MONGO_PORT=27417

.PHONY: help run stop test unit-test install system-deps infra-up infra-down infra-status schemas bench faults

help:
	@echo "make run     start Kafka, FerretDB and all five services with a demo shop (Ctrl-C stops)"
	@echo "make test    run every test (starts and stops its own infrastructure)"
	@echo "make stop    stop what 'make run' started"
	@echo "make infra-up | infra-down | infra-status    the local Kafka + FerretDB only"
	@echo "make unit-test    the tests that need no infrastructure"
	@echo "make schemas      export the message JSON Schemas and asyncapi.json to build/schemas"
	@echo "make bench        every benchmark, one table, build/bench/results.json (BENCH_ARGS=--short: seconds)"
	@echo "make faults       load + one fault per phase + the four invariants (FAULTS_ARGS='--faults none,...')"

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
	@pidfile=$${OMS_RUN_DIR:-.oms/run}/run.pid; \
	if [ -f $$pidfile ] && kill -0 $$(cat $$pidfile) 2>/dev/null; then \
	  kill -TERM $$(cat $$pidfile); \
	  for i in $$(seq 1 60); do kill -0 $$(cat $$pidfile 2>/dev/null) 2>/dev/null || break; sleep 0.5; done; \
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

bench: system-deps install
	@$(BENCH_INFRA_ENV) $(INFRA) up --reset
	@set -a; source .oms/bench-infra/infra.env; set +a; export $(BENCH_INFRA_ENV); \
	  $(PY) benchmarks/run_all.py $(BENCH_ARGS); status=$$?; \
	  $(BENCH_INFRA_ENV) $(INFRA) down; exit $$status

faults: system-deps install
	@$(FAULTS_INFRA_ENV) $(INFRA) up --reset
	@set -a; source .oms/faults-infra/infra.env; set +a; export $(FAULTS_INFRA_ENV); \
	  $(PY) -m oms_devtools.faults $(FAULTS_ARGS); status=$$?; \
	  $(FAULTS_INFRA_ENV) $(INFRA) down; exit $$status
