# Every target bootstraps what it needs: a .venv from the pinned requirements and the CDK CLI pinned
# in package.json/package-lock.json. Nothing here needs AWS credentials except deploy/diff.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
ENV ?= dev
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help synth test bench deploy diff smoke lint asl openapi experiments-lock lock clean prepare sample-data report runs bootstrap

## help: this list (every target sets up the .venv and the pinned CDK CLI itself on first use)
help:
	@echo "Usage: make <target> [ENV=dev] [VARIABLE=value ...]"
	@grep -hE '^## [a-z-]+:' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z-]+): */  \1\t/' | expand -t 16

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "== Setting up $(VENV) from the pinned requirements (first time: several minutes, ~750 MB) =="
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt -c requirements.lock 2>&1 \
		| grep --line-buffered -vE '^(Requirement already satisfied|WARNING: Location|  )'; exit $${PIPESTATUS[0]}
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@echo "== $(VENV) ready =="
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "== Installing the pinned CDK CLI (package-lock.json) =="
	npm ci --no-audit --no-fund --no-update-notifier --loglevel=error
	@touch $@

bootstrap: $(VENV)/.installed node_modules/.installed

## synth: synthesise every stack of config/$(ENV).yaml into cdk.out/ and print a summary
synth: bootstrap
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CDK) synth --quiet -c env=$(ENV) --app "$(PY) app.py"
	$(PY) -m tools.synth_summary cdk.out

## test: the whole test suite (what CI runs); installs Debian's chromium for the report page test
test: bootstrap
	bash tools/ensure-chromium.sh
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n 2 --dist loadgroup -q

## bench: speed figures, one per line as `name: value unit`
bench: bootstrap
	$(PY) -m bench.run

## lint: ruff, then mypy with the pydantic plugin (CI runs it after the tests; mypy's first run takes ~3 min)
lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## openapi: regenerate docs/serving-openapi.json from the serving API's routes (lambdas/serving/handler.py)
openapi: bootstrap
	$(PY) -m serving.openapi --write

## experiments-lock: lock the new experiments of config/$(ENV).yaml in config/experiments.lock.json (commit it)
experiments-lock: bootstrap
	$(PY) -m stacks.experiment_settings --env $(ENV)

## asl: regenerate statemachines/pipeline.asl.json from the step declarations (stacks/pipeline_steps.py)
asl: bootstrap
	$(PY) -m stacks.definition_file --write

## deploy: deploy every stack of config/$(ENV).yaml (needs AWS credentials for its account, and Docker)
deploy: bootstrap
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CDK) deploy --all -c env=$(ENV) --app "$(PY) app.py"

## smoke: deploy a sandbox env (config/sandbox.yaml, docs/smoke.md), run one country, verify, remove what it made (ARGS="--keep", "--dry-run")
smoke: bootstrap
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m tools.smoke --env $(ENV) $(ARGS)

## diff: what a deploy of config/$(ENV).yaml would change (needs AWS credentials for its account)
diff: bootstrap
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CDK) diff -c env=$(ENV) --app "$(PY) app.py"

## lock: re-resolve the pinned transitive set after changing requirements*.txt
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install -q -r requirements-dev.txt
	( echo '# Full pinned set (transitive included) for requirements-dev.txt; regenerate with `make lock`.'; .venv-lock/bin/pip freeze ) > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf cdk.out .pytest_cache

# Local commands: one line naming the missing make variable, and OUT never inside the repository.
need = $(foreach v,$(1),$(if $(strip $($(v))),,echo "make $@: $(v) is required (e.g. $(v)=$(value example_$(v)))" >&2; exit 2;))
out_outside_repo = case "$$(realpath -m -- "$(OUT)")/" in "$(CURDIR)"/*) echo "make $@: OUT=$(OUT) is inside the repository; use a folder outside it (e.g. OUT=/tmp/$@)" >&2; exit 2;; esac
example_RAW := /tmp/raw
example_OUT := /tmp/out
example_COUNTRY := KR
example_RUN_DATE := 2025-07-01

## prepare: run the Athena SQL locally on DuckDB; exits 1 when the data breaks a quality threshold
prepare: bootstrap
	@$(call need,RAW OUT COUNTRY RUN_DATE) $(out_outside_repo)
	$(PY) -m dataprep.local --raw "$(RAW)" --out "$(OUT)" --country "$(COUNTRY)" --run-date "$(RUN_DATE)" $(if $(RECIPES),--recipes $(RECIPES)) $(if $(COLUMNAR),--columnar "$(COLUMNAR)")

## sample-data: deterministic synthetic raw exports
sample-data: bootstrap
	@$(call need,OUT) $(out_outside_repo)
	$(PY) -m dataprep.sample_data --out "$(OUT)" $(if $(USERS),--users $(USERS)) $(if $(ITEMS),--items $(ITEMS)) $(if $(DAYS),--days $(DAYS)) $(if $(SEED),--seed $(SEED)) $(if $(END_DATE),--end-date $(END_DATE))

## report: heavy-user comparison page
report: bootstrap
	@$(call need,RAW COUNTRY RUN_DATE OUT) $(out_outside_repo)
	OPENBLAS_NUM_THREADS=1 $(PY) -m evaluation.report_local --raw "$(RAW)" --country "$(COUNTRY)" --run-date "$(RUN_DATE)" --out "$(OUT)" $(if $(RESULTS),--results "$(RESULTS)") $(if $(TOP_USERS),--top-users $(TOP_USERS))

## runs: the operators' replay tool, e.g. make runs ARGS="list --env prod --status FAILED"
runs: bootstrap
	$(VENV)/bin/personalize-runs $(ARGS)
