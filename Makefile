# Everyday commands. `make help` lists them.
STACK ?= dev
VENV  := .venv
PY    := $(VENV)/bin/python
GOFMT := $(shell command -v gofmt || echo /usr/local/go/bin/gofmt)

.DEFAULT_GOAL := help
.PHONY: help setup engine hypervisor state-server up preview review drift down refresh leftovers lint unit engine-test test soak review-fixtures bench renew audit snapshots rollback

help: ## List the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install Debian packages and the Python environments (idempotent)
	@scripts/system-packages.sh
	@scripts/venv.sh $(VENV) requirements-dev.txt
	@scripts/venv.sh policies/venv policies/requirements.txt

engine: ## Build or find the Pulumi CLI, language host and libvirt provider (cached in ~/.cache/fleet)
	@scripts/engine.sh

hypervisor: ## Make a libvirt daemon answer at qemu:///system (stop: scripts/hypervisor.sh stop)
	@scripts/hypervisor.sh start

state-server: ## Start a local PostgreSQL for trying the team state backend; prints its PULUMI_BACKEND_URL (stop: scripts/state-server.sh stop)
	@scripts/state-server.sh start

up: ## Deploy STACK (default dev) with its policy pack config (ADOPT=1: take over what the hosts hold of it)
	@STACK=$(STACK) ADOPT=$(ADOPT) scripts/stack.sh up

preview: ## Show what `make up` would change, policies applied
	@STACK=$(STACK) scripts/stack.sh preview

review: ## The preview as a pull-request review (Markdown in .review/STACK/); fails when the policy gate does
	@STACK=$(STACK) scripts/stack.sh review

drift: ## Drift check: refresh and preview STACK; fails when the hosts drifted or anything would change
	@STACK=$(STACK) scripts/stack.sh drift

down: ## Destroy everything STACK created
	@STACK=$(STACK) scripts/stack.sh down

refresh: ## Read the real state of STACK's resources into its state
	@STACK=$(STACK) scripts/stack.sh refresh

leftovers: ## List what STACK left on its hosts outside its state; REMOVE=1 removes it
	@STACK=$(STACK) REMOVE=$(REMOVE) scripts/stack.sh leftovers

lint: setup ## ruff, mypy, gofmt, bash syntax, actionlint (with shellcheck) on the workflows, node --check on their script
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/mypy policies/__main__.py
	@unformatted=$$($(GOFMT) -l engine) || exit 1; test -z "$$unformatted" || { echo "gofmt would change: $$unformatted"; exit 1; }
	@for script in scripts/*.sh .ci/run; do bash -n "$$script" || exit 1; done
	@actionlint=$$(scripts/tools.sh actionlint) && $$actionlint -no-color && echo "actionlint: workflows clean"
	@command -v node >/dev/null || { echo "node is needed to check .github/scripts/*.js"; exit 1; }
	@for script in .github/scripts/*.js; do node --check "$$script" || exit 1; done

unit: setup ## Fast tests: validation, placement, components under mocks, policies
	$(PY) -m pytest -m "not engine" -q

engine-test: setup engine hypervisor ## The engine tier only: real pulumi against the local libvirt
	$(PY) -m pytest -m engine -q

review-fixtures: setup engine hypervisor ## Record the review's engine fixtures again (RENDER=1: only re-render tests/review/golden)
	$(PY) -m tests.review.record $(if $(RENDER),--render-only)

# A make variable's text as one shell word, exactly as given ($, quotes and backticks included).
shell_word = '$(subst ','\'',$(1))'

renew: ## Renew a VM group's lease: VM=<group> UNTIL=YYYY-MM-DD REASON="..." edits Pulumi.STACK.yaml, prints the diff
	@scripts/venv.sh $(VENV) requirements-dev.txt
	@$(PY) -m leases renew --stack $(call shell_word,$(value STACK)) --vm $(call shell_word,$(value VM)) \
	  --until $(call shell_word,$(value UNTIL)) --reason $(call shell_word,$(value REASON))

snapshots: ## List the snapshots of STACK's VMs on their hosts, with what the retention does (FORMAT=json, VM=<vm>)
	@scripts/venv.sh $(VENV) requirements-dev.txt
	@$(PY) -m snapshots list --stack $(call shell_word,$(value STACK)) $(if $(FORMAT),--format $(call shell_word,$(value FORMAT))) \
	  $(if $(VM),--vm $(call shell_word,$(value VM)))

rollback: ## Revert one VM of STACK to a snapshot: VM=<vm> SNAPSHOT=<name> (README: what Pulumi holds then)
	@scripts/venv.sh $(VENV) requirements-dev.txt
	@$(PY) -m snapshots rollback --stack $(call shell_word,$(value STACK)) --vm $(call shell_word,$(value VM)) \
	  --snapshot $(call shell_word,$(value SNAPSHOT))

audit: ## Audit STACK's hosts against its declaration and state (FORMAT=table|json|markdown|prometheus, OUT=file, REPORT_DIR=dir, IDLE_WINDOW=s, IDLE_THRESHOLD=%); exit status: README
	@STACK=$(STACK) AUDIT_FORMAT=$(call shell_word,$(value FORMAT)) AUDIT_OUT=$(call shell_word,$(value OUT)) \
	  AUDIT_REPORT_DIR=$(call shell_word,$(value REPORT_DIR)) \
	  AUDIT_IDLE_WINDOW=$(call shell_word,$(value IDLE_WINDOW)) AUDIT_IDLE_THRESHOLD=$(call shell_word,$(value IDLE_THRESHOLD)) \
	  scripts/stack.sh audit

bench: setup engine hypervisor ## Benchmark: planning and previews of generated 10/100/300/1,000-VM fleets (SIZES=, REPEAT=, MARKDOWN=1, ENGINE_DEFAULTS=1, OPENTOFU=1: beside OpenTofu)
	@$(PY) -m bench $(if $(SIZES),--sizes $(SIZES)) $(if $(REPEAT),--repeat $(REPEAT)) $(if $(MARKDOWN),--markdown) \
	  $(if $(ENGINE_DEFAULTS),--engine-defaults) $(if $(OPENTOFU),--opentofu)

soak: setup engine hypervisor ## Hang soak: CYCLES (default 30) up/down cycles of a 6-VM stack, with figures (not in make test)
	$(PY) scripts/soak.py --cycles $(or $(CYCLES),30)

test: lint engine hypervisor ## Every test: lint, unit, policies, engine
	$(PY) -m pytest -q
