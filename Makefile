# The two commands of the README, and their helpers. `make demo` and `make test` set up
# everything they need on a fresh machine (Python 3.11+, Java 17+ and Maven installed).

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test browser kafka-start kafka-stop lint bench clean

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is needed"; exit 1; }
	@echo "==> creating the Python environment in $(VENV) (first run: a minute or two, chDB is a 180 MB wheel)"
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	@$(PYTHON) -m pip install --quiet --upgrade pip
	@$(PYTHON) -m pip install --quiet --progress-bar off -e ".[dev]"
	@touch $(STAMP)
	@echo "==> environment ready"

$(BENCH_STAMP): $(STAMP)
	@$(PYTHON) -m pip install --quiet --progress-bar off -e ".[dev,bench]"
	@touch $(BENCH_STAMP)

demo: $(STAMP)
	@$(PYTHON) scripts/demo.py

test: $(STAMP) browser
	@bash scripts/local-kafka.sh start
	$(PYTHON) -m pytest

# The graph page's browser tests (tests/ui) need Debian's chromium and chromium-driver: installed
# here when this runs as root with apt-get; otherwise those tests skip and say how to install them.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> installing chromium and chromium-driver for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "==> no chromium: the browser tests will skip (as root: apt-get install -y chromium chromium-driver)"; fi

kafka-start:
	@bash scripts/local-kafka.sh start

kafka-stop:
	@bash scripts/local-kafka.sh stop

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy edgewatch ingest api alerts simulator launch

# Every benchmark in its quick mode, then one table: figure, goal, measured, met (bench/all.py).
# The benchmarks start the local broker when none answers. The full runs, for
# docs/performance.md: bench/ingest.py and bench/scale.py without --quick.
bench: $(BENCH_STAMP)
	$(PYTHON) bench/all.py

clean:
	bash scripts/local-kafka.sh stop || true
	rm -rf .edgewatch
