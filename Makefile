# SMS router for Odoo 19: set-up, run and test commands (see README.md).
#
#   make run     install the Python dependencies, then run Odoo with the demo database
#   make test    install the Python and test dependencies, then run every test
#   make lint    install the pinned lint tools, then run ruff and pylint-odoo (as CI does)
#
# PYTHON is the interpreter that imports odoo (an active virtualenv is honoured).
# ARGS is passed to the script behind a target, e.g.
#   make test-odoo ARGS="--addons sms_router --tags /sms_router"

PYTHON ?= python3
HARNESS := tests/harness
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help deps deps-test deps-lint run init-demo test test-quick test-py test-odoo test-wheels lint readme drills bench pot screenshots env clean

help:
	@echo "make run        install dependencies, create the demo database, serve http://localhost:8069 (admin/admin; elodie/elodie in French)"
	@echo "make test       install dependencies, run the pytest suite, the Odoo tests, the wheel check, the drills (~20 min)"
	@echo "make test-quick the same without the failure drills (~6 min)"
	@echo "make test-py    only the pytest suite"
	@echo "make test-odoo  only the Odoo tests (ARGS=\"--addons a,b --tags SPEC\" to narrow)"
	@echo "make lint       ruff and pylint-odoo (OCA's mandatory checks) on the addons, ruff on tests/ (ARGS=--fix)"
	@echo "make test-wheels build the addons' wheels, install them in a fresh venv, run Odoo from it"
	@echo "make drills     failure drills: real Odoo workers against the provider sandbox (~27 min)"
	@echo "make bench      routing, segments, failover, Odoo throughput and overview benchmarks (~10 min)"
	@echo "make init-demo  create the demo database in a throwaway cluster, then exit"
	@echo "make pot        refresh the translation templates (<addon>/i18n/<addon>.pot)"
	@echo "make readme     regenerate each addon's README.rst from its readme/*.md fragments"
	@echo "make screenshots the README screenshots, from the demo in headless Chromium (~6 min)"
	@echo "make env        show the Odoo install and the addons found"
	@echo "make deps       install the runtime dependencies (deps-test: with the test ones, deps-lint: the lint tools)"
	@echo "make clean      remove .run/ (logs) and caches"

deps:
	$(PYTHON) $(HARNESS)/deps.py

deps-test:
	$(PYTHON) $(HARNESS)/deps.py --test

deps-lint:
	$(PYTHON) $(HARNESS)/deps.py --lint

run: deps
	$(PYTHON) $(HARNESS)/run_demo.py $(ARGS)

init-demo: deps
	$(PYTHON) $(HARNESS)/run_demo.py --init-only $(ARGS)

test: deps-test
	$(PYTHON) $(HARNESS)/run_all.py $(ARGS)

test-quick: deps-test
	$(PYTHON) $(HARNESS)/run_all.py --no-drills $(ARGS)

# pytest exits 5 when it collects no test: that is a failure here.
test-py: deps-test
	@rc=0; $(PYTHON) -m pytest $(ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 1; fi; exit $$rc

drills: deps-test
	$(PYTHON) tests/drills/run_drills.py $(ARGS)

bench: deps-test
	$(PYTHON) tests/benchmarks/bench_routing.py
	$(PYTHON) tests/benchmarks/bench_segments.py
	$(PYTHON) tests/benchmarks/bench_failover.py
	$(PYTHON) tests/benchmarks/bench_odoo_throughput.py
	$(PYTHON) tests/benchmarks/bench_overview.py

pot: deps
	$(PYTHON) $(HARNESS)/gen_http_template_texts.py
	$(PYTHON) $(HARNESS)/export_pot.py $(ARGS)

test-odoo:
	$(PYTHON) $(HARNESS)/run_odoo_tests.py $(ARGS)

# What CI runs before `make test`; ARGS="--fix" lets ruff fix what it can.
lint: deps-lint
	$(PYTHON) $(HARNESS)/run_lint.py $(ARGS)

# The part of `make test` that packages each addon as OCA does (whool) and runs Odoo from a venv.
test-wheels:
	$(PYTHON) $(HARNESS)/check_wheels.py $(ARGS)

# OCA's layout: <addon>/readme/*.md -> <addon>/README.rst (pandoc from the `readme` extra).
readme:
	$(PYTHON) $(HARNESS)/deps.py --extra readme
	$(PYTHON) $(HARNESS)/gen_readme.py $(ARGS)

# The demo in a state worth showing, photographed in headless Chromium (English and French):
# sms_router/static/description/screenshots/*.png, linked from the README.
screenshots: deps
	$(PYTHON) $(HARNESS)/screenshots.py $(ARGS)

env:
	$(PYTHON) $(HARNESS)/odoo_env.py

clean:
	rm -rf .run .pytest_cache
