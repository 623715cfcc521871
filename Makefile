# prestashop-amazon-sync — every entry point a developer or CI needs.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
# The Lambda runtime is python3.12: use it locally where pyenv or the system has it.
PYTHON ?= $(shell for p in $$HOME/.pyenv/versions/3.12.*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
            [ -x "$$p" ] && { echo $$p; exit; }; done; command -v python3.12 || command -v python3)

.PHONY: setup mariadb lint typecheck template-check rds-ca check-rds-ca build deploy lock test unit demo bench-coldstart \
        bench-export bench-ack bench-claim-floor bench-triggers bench-freshness bench-reconcile bench-memory soak clean

setup: $(VENV)/.installed mariadb

# Every package comes from a lock with hashes (requirements-dev.txt, compiled by `make lock`): pip refuses
# a file whose hash differs. The editable installs build with the locked setuptools, fetching nothing.
$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt pyproject.toml devkit/pyproject.toml
	@echo "==> creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	@$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . -e ./devkit
	@touch $@

# Tests start their own throwaway server; they only need MariaDB's binaries on the machine.
mariadb:
	@if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "==> installing mariadb-server with apt (binaries only; nothing is started)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null; \
	else \
	  echo "MariaDB's server binaries are missing and you are not root: run 'sudo apt-get install mariadb-server', then 'make test' again." >&2; exit 1; \
	fi

# The README's first command: the whole sync on this machine, artefacts in .demo/.
demo: setup
	@$(BIN)/python -m demo.driver

lint: setup
	@echo "==> ruff"
	@$(BIN)/ruff check .

typecheck: setup
	@echo "==> mypy"
	@$(BIN)/mypy layers/shared/amazon_sync cli/amazon_sync_cli devkit/amazon_sync_devkit functions tests bench demo

# The SAM CLI pins an older boto3 than the project: it lives in a virtualenv of its own.
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 PATH=$(dir $(PYTHON)):$$PATH $(SAM_VENV)/bin/sam

# Every package from the lock, hashes checked. --no-deps because pip's hash mode cannot take the SAM CLI's
# extras (boto3[crt], boto3-stubs[...]) from a lock; the lock holds them all (pip-compile resolved them),
# and pip check proves the installed set complete.
$(SAM_VENV)/.installed: requirements-sam.txt
	@echo "==> creating $(SAM_VENV) for the SAM CLI"
	@$(PYTHON) -m venv $(SAM_VENV)
	@$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-sam.txt
	@$(SAM_VENV)/bin/pip check >/dev/null || { $(SAM_VENV)/bin/pip check; exit 1; }
	@touch $@

# Everything about the template that can be checked without an AWS account. Its `sam build` is a check
# only (CI has no route to AWS's trust store, so the RDS CA bundle is absent): never deploy its output,
# `make deploy` builds again and refuses to build without the bundle.
template-check: setup $(SAM_VENV)/.installed
	@echo "==> cfn-lint (with the serverless rules)"
	@$(BIN)/cfn-lint -a cfn_lint_serverless.rules -- template.yaml
	@echo "==> sam validate --lint"
	@$(SAM) validate --lint --region eu-west-1
	@echo "==> sam build"
	@$(SAM) build --region eu-west-1 >.sam-build.log 2>&1 && echo "sam build: OK (.aws-sam/build)" \
	  || { cat .sam-build.log; exit 1; }

# The RDS CA bundle the functions verify the database with (DB_TLS_CA_FILE in template.yaml).
RDS_CA := layers/shared/amazon_sync/certs/rds-global-bundle.pem
rds-ca:
	@curl -fsSL https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem -o $(RDS_CA).download \
	  && mv $(RDS_CA).download $(RDS_CA) && echo "RDS CA bundle saved to $(RDS_CA)"

# Without the bundle every invocation fails to connect: a deployable build must contain one that loads.
check-rds-ca:
	@test -s "$(RDS_CA)" || { echo "$(RDS_CA) is missing: run 'make rds-ca' (the functions verify RDS's certificate with it)" >&2; exit 1; }
	@$(PYTHON) -c 'import ssl, sys; c = ssl.create_default_context(cafile=sys.argv[1]); n = c.cert_store_stats()["x509_ca"]; \
	  sys.exit(0 if n else "no CA certificate in " + sys.argv[1]); ' "$(RDS_CA)" 2>/dev/null \
	  || { echo "$(RDS_CA) is not a PEM bundle of CA certificates: run 'make rds-ca' again" >&2; exit 1; }
	@echo "RDS CA bundle: $(RDS_CA) OK"

# The deployment path: the bundle is fetched when missing and checked, then the stack is built and deployed.
build: $(SAM_VENV)/.installed
	@test -s "$(RDS_CA)" || $(MAKE) --no-print-directory rds-ca
	@$(MAKE) --no-print-directory check-rds-ca
	@$(SAM) build --region $${AWS_REGION:-eu-west-1}

DEPLOY_ARGS ?= --guided
deploy: build
	@$(SAM) deploy $(DEPLOY_ARGS)

# Dependencies: edit the direct pins in layers/shared/requirements.in or requirements-dev.in, then
# `make lock` resolves every transitive dependency and records its hashes in the matching .txt (PyPI must
# be reachable). The dev lock is constrained by the layer's, so both agree. The SAM CLI, a build tool in its
# own venv, has its own lock (requirements-sam.in -> requirements-sam.txt), installed without dependency
# resolution (see $(SAM_VENV)/.installed).
LOCK := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --strip-extras \
        --no-emit-index-url --no-emit-find-links
lock: $(VENV)/.installed
	@$(LOCK) -o layers/shared/requirements.txt layers/shared/requirements.in
	@$(LOCK) --allow-unsafe -o requirements-dev.txt requirements-dev.in
	@$(LOCK) --allow-unsafe -o requirements-sam.txt requirements-sam.in
	@echo "locks written: layers/shared/requirements.txt requirements-dev.txt requirements-sam.txt"

# pytest exits 5 when it collects nothing, which make treats as a failure: no empty green run.
test: lint typecheck template-check
	@echo "==> pytest"
	@$(BIN)/pytest -q -p no:logging $(PYTEST_ARGS)

# The pure core alone: no database, no AWS emulation, no simulator, no sockets; seconds, not minutes.
unit: $(VENV)/.installed
	@$(BIN)/pytest -q -p no:logging tests/unit $(PYTEST_ARGS)

bench-triggers: setup
	@$(BIN)/python -m bench.bench_triggers

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .demo .bench .mypy_cache .pytest_cache .ruff_cache

bench-export: setup
	@$(BIN)/python -m bench.bench_export

bench-ack: setup
	@$(BIN)/python -m bench.bench_ack
	@$(BIN)/python -m bench.bench_ack_warnings

# What claiming a million log rows costs against locking reads alone (the floor of any claim design).
bench-claim-floor: setup
	@$(BIN)/python -m bench.bench_claim_floor

# Commit-to-Amazon time per change (trickle, burst), with and without the express lane, on a simulated clock.
bench-freshness: setup
	@$(BIN)/python -m bench.bench_freshness

bench-reconcile: setup
	@$(BIN)/python -m bench.bench_reconcile

# Time and peak memory of the export (10,000 and 1,000,000 rows) and the acknowledgment, and what each
# Lambda memory size would cost (bench/memory_model.py): the MemorySize in template.yaml comes from here.
bench-memory: setup
	@$(BIN)/python -m bench.bench_memory

# A long randomized no-lost-update run (the test suite runs a moderate one).
soak: setup
	@SOAK_SEEDS=$${SOAK_SEEDS:-30} SOAK_STEPS=$${SOAK_STEPS:-300} $(BIN)/pytest -q -p no:logging tests/system/test_no_lost_update.py

# Cold start per function: imports in fresh interpreters and a first invocation, the layer as built.
bench-coldstart: setup $(SAM_VENV)/.installed
	@$(SAM) build --region eu-west-1 >.sam-build.log 2>&1 || { cat .sam-build.log; exit 1; }
	@$(BIN)/python -m bench.bench_coldstart
