"""``edgewatch``: one command, one subcommand per job.

    edgewatch migrate                      apply migrations/ to ClickHouse
    edgewatch ingest [--until-caught-up]   Kafka -> ClickHouse
    edgewatch produce FILE|-               publish newline-delimited records to Kafka
    edgewatch api [--host H --port P]      the HTTP API
    edgewatch alerts                       the alert evaluator and notifier
    edgewatch up [--host H --port P]       ingester + API + alerts in one process
    edgewatch simulate --scenario NAME     publish a simulated mesh's records

Settings come from EDGEWATCH_* variables (README); ``main`` builds them once.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from kafka.errors import KafkaError, KafkaTimeoutError
from pydantic import ValidationError

from edgewatch.clickhouse import EngineInUseError, connect
from edgewatch.migrate import MigrationError, migrate
from edgewatch.settings import Settings
from edgewatch.settle import settle, start_settler

log = logging.getLogger("edgewatch")


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so that work in hand is finished, not cut."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        log.info("%s received: finishing the batch in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    applied = migrate(connect(settings.clickhouse_url), settings.raw_ttl_days)
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    print("schema is up to date" if not applied else f"{len(applied)} migration(s) applied")
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from ingest.service import Ingester

    client = connect(settings.clickhouse_url)
    migrate(client, settings.raw_ttl_days)
    stop = _stop_on_signals()
    if args.until_caught_up:
        stats = Ingester(settings, lambda: connect(settings.clickhouse_url)).run(stop=stop, until_caught_up=True)
        settle(client, datetime.now(UTC))
    else:
        settler = start_settler(connect(settings.clickhouse_url), stop)
        stats = Ingester(settings, lambda: connect(settings.clickhouse_url)).run(stop=stop)
        settler.join(timeout=30)
    print(f"ingest: stored {stats.records:,} records from {stats.messages:,} messages in {stats.batches:,} batches")
    return 0


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from edgewatch.produce import produce

    if args.file == "-":
        produce(settings, sys.stdin.buffer, args.lines_per_message)
    else:
        with open(args.file, "rb") as source:
            produce(settings, source, args.lines_per_message)
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from api.server import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_alerts(settings: Settings, _args: argparse.Namespace) -> int:
    from alerts.service import run_forever

    run_forever(settings, _stop_on_signals())
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from edgewatch.up import run_all

    run_all(settings, host=args.host, port=args.port)
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from simulator.run import main as simulate

    return int(simulate(settings, args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgewatch", description="Edge stats and alerts for a service mesh.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[Settings, argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    add("migrate", cmd_migrate, "apply the numbered migrations in migrations/")
    p = add("ingest", cmd_ingest, "consume request records from Kafka into ClickHouse")
    p.add_argument("--until-caught-up", action="store_true",
                   help="store everything published so far, commit, and exit")
    p = add("produce", cmd_produce, "publish newline-delimited records (native or Envoy) to Kafka")
    p.add_argument("file", help="a file of records, one per line, or - for standard input")
    p.add_argument("--lines-per-message", type=int, default=1000, help="records per Kafka message (1000)")
    for name, func, text in (("api", cmd_api, "serve the HTTP API"),
                             ("up", cmd_up, "ingester, API and alerts in one process (embedded ClickHouse)")):
        p = add(name, func, text)
        p.add_argument("--host", default=None, help="listen address (EDGEWATCH_API_HOST, 127.0.0.1)")
        p.add_argument("--port", type=int, default=None, help="listen port (EDGEWATCH_API_PORT, 8080)")
    add("alerts", cmd_alerts, "evaluate alert rules on a schedule and notify Slack")
    p = add("simulate", cmd_simulate, "publish the records of a simulated mesh to Kafka")
    from simulator.run import add_arguments

    add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            field = "EDGEWATCH_" + str(problem["loc"][0]).upper() if problem["loc"] else "settings"
            print(f"edgewatch: {field}: {problem['msg']}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python logs every failed connection attempt as an error; our own messages say more.
    logging.getLogger("kafka").setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every run of every job
    try:
        return int(args.func(settings, args))
    except EngineInUseError as error:
        print(f"edgewatch: {error}", file=sys.stderr)
    except MigrationError as error:
        print(f"edgewatch: migrations: {error}", file=sys.stderr)
    except KafkaTimeoutError as error:
        print(f"edgewatch: Kafka at {settings.kafka_bootstrap}: {error}. Start the local broker with "
              "`scripts/local-kafka.sh start`, or set EDGEWATCH_KAFKA_BOOTSTRAP", file=sys.stderr)
    except KafkaError as error:
        print(f"edgewatch: Kafka: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
