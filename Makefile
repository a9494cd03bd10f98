# make report  - build results/report/report.{pdf,html} (sets up .venv and tools on first use);
#                make report DATASET=fashion-mnist builds it offline
# make test    - lint the workflow and code, then run the test suite
# make setup   - idempotent: Debian packages (when root), .venv with pinned torch and the package

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the workflow needs: pandoc and LaTeX for the report, Latin Modern Math for
# the HTML's MathML, poppler and chromium (headless) for the tests, Fashion-MNIST for offline
# runs.
APT_PACKAGES := pandoc texlive-latex-recommended texlive-latex-extra latexmk lmodern \
	fonts-lmodern poppler-utils dataset-fashion-mnist chromium
# A one-node SLURM for the cluster test (.ci/slurm-up).
APT_CLUSTER := slurm-wlm munge
CORES ?= all
# Which dataset the report is built from; fashion-mnist works offline (Debian package).
DATASET ?= mnist
SNAKEMAKE_ARGS ?=

.PHONY: setup system-packages setup-cluster report quick screenshots test test-cluster lint bench bench-compile audit \
	compare bundle unbundle crate clean

setup: $(STAMP)

# Debian packages first (order-only: they never make the venv stale). A Python without
# ensurepip (Debian's own python3) also needs python3-venv.
system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends $$missing; \
		fi; \
	else \
		for tool in pandoc pdflatex; do command -v $$tool >/dev/null || \
			echo "warning: $$tool not found; install: $(APT_PACKAGES)"; done; \
	fi

# torch first, pinned, so that no dependency pulls in another build of it.
$(STAMP): pyproject.toml | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup-cluster: setup
	@missing=$$(for p in $(APT_CLUSTER); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $$missing; fi

# --cache: results of the expensive rules come back from .cache/ (or $$SNAKEMAKE_OUTPUT_CACHE)
# when a setting is changed back or the dataset switched back.
report: setup
	$(BIN)/snakemake --cores $(CORES) --cache --config dataset=$(DATASET) $(SNAKEMAKE_ARGS)

quick: DATASET = fashion-mnist
quick: setup
	$(BIN)/snakemake --cores $(CORES) --cache --configfile config/quick.yaml \
		--config dataset=$(DATASET) $(SNAKEMAKE_ARGS)

# The README's pictures of the report: a PDF page and the HTML at phone width
# (docs/images/report-page.png, report-phone.png), from the built report.
screenshots: setup
	$(BIN)/python scripts/report_screenshots.py results/report docs/images

lint: setup
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

# Every test: the fast ones (plain `pytest`) and the end-to-end workflow runs.
test: lint
	$(BIN)/python -m pytest -m "slow or not slow"

test-cluster: setup-cluster
	.ci/slurm-up
	PRML_CLUSTER_TESTS=1 $(BIN)/python -m pytest -m cluster tests/cluster; \
		status=$$?; .ci/slurm-down; exit $$status

bench: setup
	$(BIN)/python -m benchmarks.bench

# Whether torch.compile pays for the training step on this device (DEVICE=cuda on a GPU node).
bench-compile: DEVICE = cpu
bench-compile: setup
	$(BIN)/python -m benchmarks.compiled --device $(DEVICE)

audit: setup
	$(BIN)/prml audit results

# make compare A=results B=../other-clone/results [OUT=comparison.html]
OUT ?= comparison.html
compare: setup
	$(BIN)/prml compare $(A) $(B) --out $(OUT)

# One archive of results/ with its provenance and RO-Crate; unpack in a clone of the same commit.
BUNDLE ?= prml-results.tar.gz
bundle: setup
	$(BIN)/prml bundle results -o $(BUNDLE)

unbundle: setup
	$(BIN)/prml unbundle $(BUNDLE)

# The RO-Crate of results/, then its check against the Provenance Run Crate profile (offline).
crate: setup
	$(BIN)/prml crate results --check

clean:
	rm -rf results .snakemake
