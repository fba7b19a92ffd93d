# Entry points: `make run` deploys the stack on this machine, `make test` runs
# every check. Both do the whole set-up first (scripts/setup.sh: idempotent,
# a few seconds when everything is in place).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
export DOCKYARD_VENV := $(VENV)
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup test checks lint sanity pytest unit images-test targets molecule run build lock clean

## setup: virtualenv, Docker engine, images, collection path, ansible-test venvs
setup:
	bash scripts/setup.sh

## test: set-up, then static checks, ansible-test sanity, unit tests, image tests and every molecule scenario
test: setup
	$(MAKE) --no-print-directory checks

checks: lint sanity pytest

lint:
	yamllint --strict .
	ruff check .
	ruff format --check .
	ansible-lint
	antsibull-changelog lint

sanity:
	bash scripts/ansible-test.sh sanity --python 3.11 --color no

# pytest runs last, so its summary is the closing line of `make test`.
pytest:
	pytest

unit:
	pytest tests/unit

images-test:
	pytest -m images

targets:
	pytest -m targets

molecule:
	pytest -m molecule

## run: set-up, then deploy the stack on this machine (inventory/localhost.yml) and push and pull through it;
##      ANSIBLE_ARGS='-e stack_auth=htpasswd' for basic auth instead of tokens
run: setup
	ansible-playbook playbooks/site.yml $(ANSIBLE_ARGS)

## build: the collection tarball (no venv, caches or test artefacts in it)
build:
	ansible-galaxy collection build --force --output-path $(CURDIR)/.cache/build

## lock: re-pin requirements.txt from requirements.in in a scratch virtualenv
lock:
	rm -rf $(CURDIR)/.cache/lock-venv
	python3 -m venv $(CURDIR)/.cache/lock-venv
	$(CURDIR)/.cache/lock-venv/bin/pip install --quiet -r requirements.in
	{ echo '# Pinned test and development environment (generated from requirements.in by `make lock`).'; \
	  $(CURDIR)/.cache/lock-venv/bin/pip freeze --exclude-editable; } > requirements.txt

clean:
	rm -rf $(CURDIR)/.cache $(CURDIR)/.pytest_cache $(CURDIR)/.ruff_cache
