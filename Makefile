# `make run` runs the pipeline on the offline default config; `make test` runs the test suite.
# Both set up what they need first: the Debian packages (the run's: python3-venv, bubblewrap; the tests
# add SLURM, Docker, toolchains, Chromium) and a venv from the pinned envs/cpu.txt. `make run` resumes a
# killed run (scripts/run-pipeline.sh) and prints the time from its start to the report.
VENV    ?= .venv
PYTHON  ?= python3
CORES   ?= 2
START   := $(shell date +%s)
STAMP   := $(VENV)/.installed-$(shell sha256sum envs/cpu.txt | cut -c1-12)

.PHONY: setup system-deps run plan test lint clean

# The stamp is named by envs/cpu.txt's hash, not dated by it: a fresh clone's newer file must not
# reinstall a venv (VENV=...) that already holds these pins.
$(STAMP):
	@echo "installing the Python packages of envs/cpu.txt into $(VENV) (minutes, once)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r envs/cpu.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

system-deps:
	bash tests/setup/system-deps.sh

# One after the other: the venv needs python3-venv.
run:
	@bash tests/setup/system-deps.sh run
	@$(MAKE) --no-print-directory setup
	PATH=$(abspath $(VENV))/bin:$$PATH START=$(START) bash scripts/run-pipeline.sh --cores $(CORES) $(ARGS)

# What the configured run will cost before it pays (teacher requests the cache lacks, tokens, price,
# GPU-hours): rules/plan.smk, run afresh each time, sending nothing. `make plan ARGS="--configfile configs/magicoder-ds.yaml"`.
plan:
	@bash tests/setup/system-deps.sh run
	@$(MAKE) --no-print-directory setup
	PATH=$(abspath $(VENV))/bin:$$PATH snakemake plan --cores $(CORES) --forcerun plan $(ARGS)

# The venv (pip) and the Debian packages (apt) install side by side: on a fresh machine both take minutes.
test:
	$(MAKE) --no-print-directory -j2 setup system-deps
	PATH=$(abspath $(VENV))/bin:$$PATH OMP_NUM_THREADS=1 pytest $(ARGS)

lint: setup
	PATH=$(abspath $(VENV))/bin:$$PATH snakemake --lint

clean:
	rm -rf results .snakemake
