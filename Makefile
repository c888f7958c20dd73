# The two commands a new machine needs: `make run` and `make test`.
# Everything else (virtualenv, generated gRPC code, system packages) is
# prepared on the way.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROTOS := $(wildcard proto/*.proto)
GENERATED := services/contracts/__init__.py

.PHONY: run test demo bench lint proto system-packages clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# gRPC code is generated from proto/ and never edited or committed.
$(GENERATED): $(INSTALLED) $(PROTOS)
	rm -rf services/contracts
	mkdir -p services/contracts
	$(BIN)/python -m grpc_tools.protoc -Iservices/contracts=proto \
		--python_out=. --grpc_python_out=. --pyi_out=. $(PROTOS)
	echo '"""Generated from proto/ by make; do not edit."""' > $@

proto: $(GENERATED)

system-packages:
	@bash scripts/ensure-system-packages.sh

run: $(GENERATED) system-packages
	$(BIN)/python -m services.devstack

test: $(GENERATED) system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(GENERATED)
	$(BIN)/python -m services.devstack.demo

bench: $(GENERATED)
	$(BIN)/python -m bench

lint: $(INSTALLED)
	$(BIN)/ruff check services tests bench

clean:
	rm -rf $(VENV) services/contracts .pytest_cache
