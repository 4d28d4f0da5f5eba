# Local Kafka and Elasticsearch (see infra/README.md). PYTHON may point at another interpreter.
PYTHON ?= .venv/bin/python

.PHONY: infra-up infra-down infra-status

infra-up:  ## start Kafka and Elasticsearch (fetching jars the first time) and wait until they answer
	$(PYTHON) -m infra up

infra-down:  ## stop the services infra/ started
	$(PYTHON) -m infra down

infra-status:  ## versions, ports, pids, memory, data size and health
	$(PYTHON) -m infra status
