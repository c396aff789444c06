# `make run` runs the pipeline on the offline default config; `make test` runs the test suite.
# Both set up what they need first: a venv from the pinned envs/cpu.txt (and, for tests, the Debian
# packages the real components need: bubblewrap, SLURM, Docker, toolchains, Chromium).
VENV    ?= .venv
PYTHON  ?= python3
CORES   ?= 2
STAMP   := $(VENV)/.installed-$(shell sha256sum envs/cpu.txt | cut -c1-12)

.PHONY: setup system-deps run test lint clean

$(STAMP): envs/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r envs/cpu.txt
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

system-deps:
	bash tests/setup/system-deps.sh

run: setup
	PATH=$(abspath $(VENV))/bin:$$PATH snakemake --cores $(CORES) $(ARGS)

# The venv (pip) and the Debian packages (apt) install side by side: on a fresh machine both take minutes.
test:
	$(MAKE) --no-print-directory -j2 setup system-deps
	PATH=$(abspath $(VENV))/bin:$$PATH OMP_NUM_THREADS=1 pytest $(ARGS)

lint: setup
	PATH=$(abspath $(VENV))/bin:$$PATH snakemake --lint

clean:
	rm -rf results .snakemake
