# Test entry points; scripts/run-tests.sh (the README's test command) runs them after bootstrap.
VENV ?= .venv
PY := $(VENV)/bin/python
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: test unit integration sanity lint build galaxy docs-lint docsite changelog

test: unit integration sanity lint galaxy

unit:
	$(PY) -m pytest -q tests/unit

# Two test files at a time (pytest-xdist, one file per worker: a file's fixtures run once), as CI has 2
# cores and most of a test's time is Ansible's and the lab's waits; every test's lab has names of its own
# (labtest.Lab). INTEGRATION_WORKERS=0 runs them one after the other. The slowest tests are printed last.
INTEGRATION_WORKERS ?= 2
integration:
	$(PY) -m pytest -q -n $(INTEGRATION_WORKERS) --dist loadfile --durations=15 tests/integration

# ansible-test sanity, then ansible-test units (its layout: tests/unit/plugins/<type>/).
sanity:
	./tests/sanity.sh
	./tests/sanity.sh units --venv --requirements

lint:
	$(VENV)/bin/ansible-lint

# Publishing: the tarball, and what Galaxy checks on upload. The tools live in a venv of their own.
GALAXY_VENV ?= .venv-galaxy
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := build/labnet-calico-$(VERSION).tar.gz
# antsibull-docs finds the collection under collections/ansible_collections (a link to this tree).
COLLECTION_DIR := collections/ansible_collections/labnet/calico

$(GALAXY_VENV)/.stamp: tests/requirements-galaxy.txt
	[ -x $(GALAXY_VENV)/bin/python ] || python3 -m venv $(GALAXY_VENV)
	$(GALAXY_VENV)/bin/pip install -q -r tests/requirements-galaxy.txt
	touch $@

build:
	$(VENV)/bin/ansible-galaxy collection build --force --output-path build

galaxy: build $(GALAXY_VENV)/.stamp docs-lint
	cd build && GALAXY_IMPORTER_CONFIG=$(CURDIR)/tests/galaxy-importer.cfg PATH=$(CURDIR)/$(GALAXY_VENV)/bin:$$PATH \
	  python -m galaxy_importer.main $(notdir $(TARBALL))

docs-lint: $(GALAXY_VENV)/.stamp
	cd $(COLLECTION_DIR) && PATH=$(CURDIR)/$(GALAXY_VENV)/bin:$$PATH antsibull-docs lint-collection-docs --plugin-docs .

# HTML docs of the collection (plugins, roles) in build/docsite/build/html; not part of `make test`.
# Offline, Sphinx cannot fetch docs.ansible.com's inventories: links into them stay warnings, not errors.
docsite: $(GALAXY_VENV)/.stamp
	rm -rf build/docsite && mkdir -p build/docsite
	export PATH=$(CURDIR)/$(GALAXY_VENV)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/collections && \
	  antsibull-docs sphinx-init --use-current --dest-dir build/docsite labnet.calico && \
	  cd build/docsite && pip install -q -r requirements.txt && \
	  sed -i 's/ -W --keep-going$$//' build.sh && ./build.sh

# A release: bump galaxy.yml's version, then `make changelog` turns changelogs/fragments/ into
# changelogs/changelog.yaml and CHANGELOG.md.
changelog: $(GALAXY_VENV)/.stamp
	$(GALAXY_VENV)/bin/antsibull-changelog release --version $(VERSION)
