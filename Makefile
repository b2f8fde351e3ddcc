# The two commands that matter: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONPATH := $(abspath devtools)

.PHONY: test demo lint typecheck unit integration rehearsal binaries control-plane clean crd

# Every machine installs the versions the last `make dev-lock` resolved and the tests passed with: a
# library released tomorrow (a typed kubernetes client, say) cannot fail CI before anyone has tried it.
CONSTRAINTS := devtools/constraints.txt

$(INSTALLED): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) -e '.[dev]'
	touch $@

# Re-resolves pyproject.toml's ranges (runtime and dev) to the newest versions, for every Python 3.11+;
# run it on purpose, then `make test`.
.PHONY: dev-lock
dev-lock: $(INSTALLED)
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --upgrade --quiet \
		--custom-compile-command 'make dev-lock' --output-file $(CONSTRAINTS)

binaries: $(INSTALLED)
	$(BIN)/python -m turbine_dev.k8s.binaries

# Only what the demo runs: the Go tools only the tests use (promtool, helm, kstatus, kube-controller-manager)
# would add about ten minutes to a cold `make demo`.
control-plane: $(INSTALLED)
	$(BIN)/python -m turbine_dev.k8s.binaries kube-apiserver etcd

lint: $(INSTALLED)
	ruff check .
	ruff format --check .
	lint-imports
	cfn-lint cfn/templates/*.yaml docs/cloudformation-service-role.yaml
	shellcheck .ci/run $$(find cfn -name '*.sh')
	hadolint Dockerfile

typecheck: $(INSTALLED)
	mypy operator/turbine_operator devtools/turbine_dev lambdas tests bench

# `|| [ $$? -eq 5 ]`: exit code 5 is a pytest that had nothing left to run, every test's pass reused on
# these exact inputs (tests/conftest.py), as `make test` counts it too.
unit: $(INSTALLED)
	pytest -m 'not integration and not rehearsal and not image' || [ $$? -eq 5 ]

# Boots every instance role from its own user data with real Airflow (root; see
# devtools/turbine_dev/rehearsal). `make test` runs it too.
rehearsal: $(INSTALLED)
	pytest -m rehearsal tests/rehearsal || [ $$? -eq 5 ]

integration: binaries
	pytest -m integration || [ $$? -eq 5 ]

# The slow suites run side by side on the two cores: the chaos trials and the boot rehearsal (both mostly
# waiting on their operators and instances) each in a pytest of its own, everything else in a third. Exit
# code 5 is a pytest that had nothing left to run (every test's pass reused); any other failure fails the
# target.
test: lint typecheck binaries
	@chaos=$$(mktemp); rehearsal=$$(mktemp); status=0; \
	pytest tests/chaos >"$$chaos" 2>&1 & first=$$!; \
	pytest tests/rehearsal >"$$rehearsal" 2>&1 & second=$$!; \
	pytest --ignore=tests/chaos --ignore=tests/rehearsal || { code=$$?; [ $$code -eq 5 ] || status=$$code; }; \
	wait $$first || { code=$$?; [ $$code -eq 5 ] || status=$$code; }; \
	wait $$second || { code=$$?; [ $$code -eq 5 ] || status=$$code; }; \
	echo "--- the chaos trials ---"; cat "$$chaos"; echo "--- the boot rehearsal ---"; cat "$$rehearsal"; \
	rm -f "$$chaos" "$$rehearsal"; exit $$status

# The Airflow the instances install: cfn/airflow/requirements.in resolved from PyPI with hashes for
# AL2023's python3.11 on x86_64, named after the version the bootstrap pins (see cfn/README.md); then that
# Airflow's option list for spec.airflow.config, read from the Airflow the lock installs (root: the
# rehearsal's install).
.PHONY: lock
lock: $(INSTALLED)
	uv pip compile cfn/airflow/requirements.in --generate-hashes --quiet \
		--python-version 3.11 --python-platform x86_64-manylinux_2_34 --custom-compile-command 'make lock' \
		--output-file cfn/scripts/airflow-$$(sed -n 's/^readonly AIRFLOW_VERSION=//p' cfn/scripts/turbine-bootstrap.sh).lock
	$(BIN)/python -m turbine_dev.tooling.airflow_options

# The CRD is generated from the API models (operator/turbine_operator/core/api/spec.py); a unit test fails
# when the committed crds/ (or the chart's copy) differs from what this writes.
crd: $(INSTALLED)
	$(BIN)/python -m turbine_dev.k8s.crd

# The CloudFormation service role for spec.serviceRoleArn, from the templates' resource types and AWS's
# registry schemas (devtools/turbine_dev/tooling/service_role.py); a test fails when docs/ holds a stale one.
.PHONY: service-role
service-role: $(INSTALLED)
	$(BIN)/python -m turbine_dev.tooling.service_role

demo: control-plane
	$(BIN)/python -m turbine_dev.runs.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .demo
