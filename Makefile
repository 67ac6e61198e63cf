# `make run` and `make test` are the two commands a fresh machine needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: browser run test lint typecheck demo bench bench-gateway catalog clean mutation

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian's chromium for the browser tests of the receipt viewer (tests/ui; Playwright comes with the dev
# extra and drives this binary, it downloads no browser). Installs only where it is missing, as root.
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "make browser: no chromium; install Debian's chromium package (the browser tests skip without it)"; fi

run: $(STAMP)
	$(BIN)/unhardcoded serve $(ARGS)

demo: $(STAMP)
	$(BIN)/unhardcoded demo

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/decision.py

bench-gateway: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

catalog: $(STAMP)
	$(BIN)/python scripts/build_catalog.py

# Mutation testing (docs/mutation.md): minutes, not seconds, so not part of `make test`. Each package is
# mutated in its own directory, build/mutation/<package> (links to src, tests and pyproject.toml plus a
# setup.cfg holding its [mutmut] section), so its mutants run against its own tests only.
# MUTANTS='unhardcoded.gateway.fallback.*' runs only the mutants whose names match. MUTATION_KEEP=1 keeps
# build/mutation/<package> from the last run, so a run goes on from there (module by module, or survivors
# again after new tests); the printed score then covers every mutant checked so far.
MUTATION_PACKAGES ?= policy gateway
MUTATION_JOBS ?= 2
MUTATION_KEEP ?= 0
MUTANTS ?=

mutation: $(STAMP)
	$(BIN)/pip install -q -e '.[mutation]'
	@set -e; for pkg in $(MUTATION_PACKAGES); do \
	  case $$pkg in gateway) tests="tests/gateway tests/otel";; *) tests="tests/$$pkg";; esac; \
	  dir=build/mutation/$$pkg; \
	  if [ "$(MUTATION_KEEP)" != 1 ] || [ ! -f $$dir/setup.cfg ]; then rm -rf $$dir; mkdir -p $$dir; \
	  for f in src tests pyproject.toml; do ln -s ../../../$$f $$dir/$$f; done; \
	  printf '[mutmut]\nsource_paths = src\nonly_mutate = src/unhardcoded/%s/*\n' $$pkg > $$dir/setup.cfg; \
	  printf 'pytest_add_cli_args_test_selection =\n' >> $$dir/setup.cfg; \
	  for t in $$tests; do printf '    %s\n' $$t >> $$dir/setup.cfg; done; \
	  printf 'use_git_change_detection = false\n' >> $$dir/setup.cfg; fi; \
	  echo "mutation: $$pkg against $$tests ($(MUTATION_JOBS) jobs; progress in $$dir/run.log)"; \
	  start=$$(date +%s); \
	  (cd $$dir && UNHARDCODED_MUTATION=1 ../../../$(BIN)/mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS) \
	    > run.log 2>&1 && ../../../$(BIN)/mutmut export-cicd-stats > /dev/null \
	    && ../../../$(BIN)/mutmut results > survivors.txt 2>&1) || { tail -20 $$dir/run.log; exit 1; }; \
	  $(BIN)/python -c 'import json, sys; s = json.load(open(sys.argv[2])); k = s["killed"] + s["timeout"]; \
	    n = sum(v for key, v in s.items() if key not in ("total", "check_was_interrupted_by_user")); \
	    print("%s: %d/%d killed (%.1f %%; %d by timeout), %d survived, %d without a test; %d of %d mutants checked;" \
	    " %s s" % (sys.argv[1], k, n, 100 * k / max(n, 1), s["timeout"], s["survived"], s["no_tests"], n, s["total"], \
	    sys.argv[3]))' $$pkg $$dir/mutants/mutmut-cicd-stats.json $$(( $$(date +%s) - start )); \
	  $(BIN)/python -c 'import glob, json, sys; \
	    rows = [(f.split("/unhardcoded/")[1][:-8], json.load(open(f))["exit_code_by_key"]) \
	            for f in sorted(glob.glob(sys.argv[1] + "/mutants/src/unhardcoded/**/*.py.meta", recursive=True))]; \
	    [print("  %-26s %4d/%-4d killed (%d mutants)" % (m, sum(v not in (None, 0, 33, 34) for v in d.values()), \
	     sum(v is not None for v in d.values()), len(d))) for m, d in rows if any(v is not None for v in d.values())]' \
	    $$dir; \
	  echo "  survivors: $$dir/survivors.txt"; \
	done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
