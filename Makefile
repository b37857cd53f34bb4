# Two commands matter: `make demo` (the main job on the local default) and `make test`.
# Both set up the virtual environment first, from the pinned requirements.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SAM_VENV := .venv-sam
# sam build needs the Lambda runtime's Python (3.12) on PATH.
SAM_PYTHON ?= python3.12

.PHONY: system-packages audit setup tmk demo demo-review demo-compare local-stack test test-fast schemas lint bench bench-index bench-snapshot bench-second-stage bench-retro bench-lookup bench-all load evaluate measure-bad-inputs sam-build clean negatives evaluate-negatives evaluate-positives

setup: $(STAMP)

# The Debian packages in requirements/apt.txt (root needed; CI runs it before the tests).
system-packages:
	@packages="$$(sed -e 's/#.*//' requirements/apt.txt | xargs)"; \
	if [ -n "$$packages" ]; then \
		apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $$packages; \
	else echo "no system packages to install"; fi

$(STAMP): requirements/core.txt requirements/aws.txt requirements/dev.txt requirements/constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Optional: TMK+PDQF matching in `hashmatch match` (tmkpy; needs swig and ffmpeg from requirements/apt.txt).
tmk: setup
	$(BIN)/python -m pip install --quiet -r requirements/tmk.txt -c requirements/constraints.txt

demo: setup
	$(BIN)/python scripts/pipeline_demo.py

# The demo, then its local stack kept up (Ctrl-C stops it) with the command that opens the review desk on its queue.
demo-review: setup
	$(BIN)/python scripts/pipeline_demo.py --keep --repeat 0

demo-compare: setup
	$(BIN)/python scripts/demo.py

local-stack: setup
	$(BIN)/python -m hashmatch_tools.local.shell

LINT_VENV := .venv-lint

$(LINT_VENV)/.installed: requirements/lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet -r requirements/lint.txt
	touch $(LINT_VENV)/.installed

# cfn-lint and checkov on the template (checkov's exceptions: .checkov.yaml and each resource's
# Metadata), bandit on the deployed code (its exceptions: # nosec at the line, with the reason above).
lint: setup $(LINT_VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(LINT_VENV)/bin/checkov --config-file .checkov.yaml
	$(LINT_VENV)/bin/bandit -q -r shared/hashmatch functions

AUDIT_VENV := .venv-audit

$(AUDIT_VENV)/.installed: requirements/audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements/audit.txt
	touch $(AUDIT_VENV)/.installed

# Known vulnerabilities of every pinned requirement (PyPI's advisories; --strict: a requirement that cannot be
# looked up fails the audit rather than pass unexamined). Not in `make lint` or CI: from these machines PyPI's
# per-release JSON answers empty and api.osv.dev does not resolve, so it cannot pass here (README).
audit: $(AUDIT_VENV)/.installed
	$(AUDIT_VENV)/bin/pip-audit --strict --no-deps --disable-pip -r requirements/constraints.txt -s pypi --progress-spinner off

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q tests/unit

# The message schemas in schemas/, generated from the pydantic models (tests/unit/test_messages.py fails when they are stale).
schemas: setup
	$(BIN)/python -m hashmatch_tools.schemas --write

# Upload hashing against the vpdq package (requirements/dev.txt; it builds against the FFmpeg libraries of
# requirements/apt.txt, make system-packages) as whole processes; makes its videos once (.cache/bench), then writes
# its tables into docs/sampling.md. Its time is in the block it writes.
bench: setup
	$(BIN)/python -m hashmatch_tools.bench.hashing --out docs/sampling.md

bench-index: setup
	$(BIN)/python -m pip install --quiet -r requirements/bench.txt -c requirements/constraints.txt
	$(BIN)/python -m hashmatch_tools.bench.index

bench-snapshot: setup
	$(BIN)/python -m hashmatch_tools.bench.snapshot --out docs/snapshot-bench.md

# Hours: the local-feature stage (its candidate index) beside brute force on 50 detail pictures at each of 1,000 / 10,000 /
# 100,000 reference feature frames (filler built once into .cache/bench-second-stage); writes docs/second-stage-bench.md
# and its README headline. Brute force's per-picture time at each size is in the block; --stop-by bounds a run.
bench-second-stage: setup
	$(BIN)/python -m hashmatch_tools.bench.second_stage --out docs/second-stage-bench.md

# About 10 minutes: a log of 1M synthetic uploads (kept in .cache/bench-retro), retro-match against brute force, and the lookup API's latency.
bench-retro: setup
	$(BIN)/python -m hashmatch_tools.bench.retro --out docs/retro-match.md

# Every benchmark in turn (make bench-retro runs the lookup API's), each rewriting its doc and its README headline, then the
# README's headlines checked against the docs and the time they all took (the sum of their recorded runs) written beside them.
bench-all: bench bench-index bench-snapshot bench-second-stage bench-retro
	$(BIN)/python -m hashmatch_tools.bench.blocks

# Under a minute: the hash lookup API's warm latency on the local stack (median and 95th percentile), printed; make bench-retro also runs it and writes it into docs/retro-match.md.
bench-lookup: setup
	$(BIN)/python -m hashmatch_tools.bench.lookup

# About 13 minutes: 1,000 mixed uploads through the local stack, an outcome counted for each, and the throughput; writes docs/load-run.md.
load: setup
	$(BIN)/python scripts/load_run.py --out docs/load-run.md

# The robustness suite (docs/robustness.md), then the adversarial suite: a table per construction and 200 random
# interleavings of known and benign content, each decided by the pipeline (docs/adversarial.md; about 2 minutes).
evaluate: setup
	$(BIN)/python -m hashmatch_tools.evaluation
	$(BIN)/python -m hashmatch_tools.evaluation.adversarial --examples 200 --out docs/adversarial.md

# The negative corpus in .cache/negatives: 24 Debian packages fetched with apt-get download (about 3 GB; needs
# Debian's package lists: apt-get update), their pictures chosen, de-duplicated and split, the packages that share a
# source with the reference set withheld (by their copyright files; docs/negative-corpus.md), the negative videos made.
# About 40 minutes on 2 cores the first time; a rerun makes only what is missing (the independence rule runs every time).
negatives: setup
	$(BIN)/python -m hashmatch_tools.evaluation.negatives build

# False positives on the negative corpus's evaluation part against a reference hash set of at least 100,000 PDQ
# frames (made and hashed the first time: hours on 2 cores; cached in .cache/negatives/references), through the
# pipeline's decision; writes docs/false-positives.md. Not part of make test or make evaluate.
evaluate-negatives: negatives
	$(BIN)/python -m hashmatch_tools.evaluation.negatives evaluate --out docs/false-positives.md

# Recall on altered copies of a seeded sample of that reference hash set's stills and videos (issue 31 item 3: references no
# threshold was tuned on), through the pipeline's decision; reads the snapshots evaluate-negatives left, never writes them;
# about 20-30 minutes on 2 shared cores, in one process; writes docs/positives.md.
evaluate-positives: setup
	$(BIN)/python -m hashmatch_tools.evaluation.negatives positives --out docs/positives.md

# About 5 minutes: each input the review found hard, hashed as the Lambda hasher would; writes docs/bad-inputs.md.
measure-bad-inputs: setup
	$(BIN)/python scripts/measure_bad_inputs.py --out docs/bad-inputs.md

$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==1.170.0

sam-build: $(SAM_VENV)/bin/sam
	PATH="$$(dirname "$$($(SAM_PYTHON) -c 'import sys; print(sys.executable)')"):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build

clean:
	rm -rf $(VENV) $(SAM_VENV) $(LINT_VENV) $(AUDIT_VENV) .aws-sam .pytest_cache build *.egg-info shared/*.egg-info
