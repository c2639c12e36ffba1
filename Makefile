# drconsole: one command per job. `make demo` and `make test` install what is missing first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := postgresql pgbackrest softhsm2 tmux chromium systemd util-linux
# kubectl, for drills against the sandbox's Kubernetes simulators: Debian's package is
# kubernetes-client; installed only when no kubectl is on the PATH (another package's kubectl
# owns the same /usr/bin/kubectl)
KUBECTL_PACKAGE := kubernetes-client
# empty: the default runs directory, the one the console and `drconsole runs` read
RUNS_DIR ?=

.PHONY: setup system-packages test test-fast test-unit lint bench demo clean

## system-packages: install the Debian packages the real-service tests and sandbox use
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v kubectl >/dev/null || missing="$$missing $(KUBECTL_PACKAGE)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 is needed (apt-get install python3 python3-venv)"; exit 2; }
	@test -x $(PY) || python3 -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install python3-venv"; exit 2; }
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --config-settings editable_mode=compat -e '.[dev]'
	@touch $(STAMP)

## setup: the virtual environment in .venv with everything, and the system packages
setup: system-packages $(STAMP)

## test: the whole suite, real services included, in two processes (a test module per
## process at a time, so a module's sandbox and its tests stay together; they mostly wait on
## servers, so two take about half the time of one on two cores)
test: setup
	@$(VENV)/bin/pytest -q -n 2 --dist loadfile; code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi; \
	exit $$code

## test-fast: the suite without the slow real-service tests
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 --dist loadfile -m "not slow"

## test-unit: tests/unit only (no service, no console)
test-unit: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit

## lint: ruff, strict mypy, import contracts
lint: $(STAMP)
	$(VENV)/bin/ruff check drconsole tests
	$(VENV)/bin/ruff format --check drconsole tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## bench: benchmarks; figures go to docs/benchmarks.md
bench: setup
	$(PY) -m tests.bench.run --output docs/benchmarks.md

## demo: start the sandbox, run a test restore and a PITR drill on it, open the console
demo: setup
	@bash scripts/demo.sh "$(RUNS_DIR)"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
