# The two commands of the README, and their helpers. `make demo` and `make test` set up
# everything they need on a fresh machine (Python 3.11+, Java 17+ and Maven installed).

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test kafka-start kafka-stop lint bench clean

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

test: $(STAMP)
	@bash scripts/local-kafka.sh start
	$(PYTHON) -m pytest

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
