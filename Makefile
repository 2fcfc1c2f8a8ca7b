# Test entry points; scripts/run-tests.sh (the README's test command) runs them after bootstrap.
VENV ?= .venv
PY := $(VENV)/bin/python
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: test unit integration sanity lint

test: unit integration sanity lint

unit:
	$(PY) -m pytest -q tests/unit

integration:
	$(PY) -m pytest -q tests/integration

sanity:
	./tests/sanity.sh

lint:
	$(VENV)/bin/ansible-lint
