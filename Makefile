# moodwatch: the two commands are `make run` and `make test` (see README.md).
# PYTHON may point at another interpreter.
PYTHON ?= .venv/bin/python
MOODWATCH ?= .venv/bin/moodwatch

.PHONY: run stop test setup lint infra-up infra-down infra-status

run: setup  ## the whole system on local services with the sample story (Ctrl-C stops it)
	HF_HUB_OFFLINE=1 $(MOODWATCH) demo run

stop:  ## stop the demo's processes and the local services
	$(MOODWATCH) demo stop

test:  ## install what is missing, then lint, types and every test on real Kafka + Elasticsearch
	scripts/test.sh

setup:  ## create .venv with the pinned dependencies (no-op when up to date)
	scripts/setup.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

infra-up: setup  ## start Kafka and Elasticsearch (fetching jars the first time) and wait until they answer
	$(PYTHON) -m infra up

infra-down:  ## stop the services infra/ started
	$(PYTHON) -m infra down

infra-status:  ## versions, ports, pids, memory, data size and health
	$(PYTHON) -m infra status
