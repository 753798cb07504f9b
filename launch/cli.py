"""``edgewatch``: one command, one subcommand per job.

    edgewatch migrate                      apply migrations/ to ClickHouse
    edgewatch ingest [--until-caught-up [--timeout T]]   Kafka -> ClickHouse
    edgewatch produce FILE|-               publish newline-delimited records to Kafka
    edgewatch api [--host H --port P]      the HTTP API
    edgewatch alerts                       the alert evaluator and notifier
    edgewatch up [--host H --port P]       ingester + API + alerts in one process
    edgewatch simulate --scenario NAME     publish a simulated mesh's records

Settings come from EDGEWATCH_* variables (README); ``main`` builds them once. ``ingest``,
``api``, ``alerts`` and ``up`` open the database and apply the migrations first
(:class:`launch.database.Database`), then run their parts through one lifecycle
(:mod:`launch.lifecycle`) until SIGINT or SIGTERM; stopped by a signal, the process ends by
that signal once the work in hand is done, so its exit status tells why.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from kafka.errors import KafkaError, KafkaTimeoutError
from pydantic import ValidationError

from edgewatch.settings import Settings, parse_duration
from edgewatch.settle import settle
from ingest.commit import Fenced
from ingest.membership import InstanceIdInUse
from ingest.poll import CatchUpTimeout
from launch.database import Database
from launch.lifecycle import Component, Lifecycle, StartError, StopRequest
from launch.mesh import open_mesh_config

Command = Callable[[Settings, argparse.Namespace, StopRequest], int]


def cmd_migrate(settings: Settings, _args: argparse.Namespace, _stop: StopRequest) -> int:
    applied = Database.open(settings).applied
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    print("schema is up to date" if not applied else f"{len(applied)} migration(s) applied")
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace, stop: StopRequest) -> int:
    from ingest.service import Ingester
    from launch.components import Ingesting, Settling

    if args.timeout is not None and not args.until_caught_up:
        print("edgewatch: ingest: --timeout goes with --until-caught-up", file=sys.stderr)
        return 2
    database = Database.open(settings)
    ingesting = Ingesting(Ingester(settings, database.connect), until_caught_up=args.until_caught_up,
                          timeout_s=args.timeout, progress=_to_stderr("ingest"))
    parts: list[Component] = [ingesting]
    if settings.ingest_port is not None:  # /healthz, /readyz (its inserts work), /metrics
        from api.operations import create_operations_app
        from launch.components import Serving

        operations = create_operations_app("Edgewatch ingester", [ingesting.ingester.health])
        parts.append(Serving(operations, settings, settings.ingest_host, settings.ingest_port,
                             name="ingester's health endpoints"))
    with stop.on_signals():
        if args.until_caught_up:
            Lifecycle(parts, stop).run()
            settle(database.client, datetime.now(UTC))
        else:
            Lifecycle([Settling(database.connect()), *parts], stop).run()
    stats = ingesting.stats
    if stats is not None:
        print(f"ingest: stored {stats.records:,} records from {stats.messages:,} messages in {stats.batches:,} batches")
    return 0


def _to_stderr(command: str) -> Callable[[str], None]:
    def say(message: str) -> None:
        print(f"edgewatch {command}: {message}", file=sys.stderr, flush=True)

    return say


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_produce(settings: Settings, args: argparse.Namespace, _stop: StopRequest) -> int:
    from edgewatch.produce import produce

    if args.file == "-":
        produce(settings, sys.stdin.buffer, args.lines_per_message)
    else:
        with open(args.file, "rb") as source:
            produce(settings, source, args.lines_per_message)
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace, stop: StopRequest) -> int:
    from api.app import create_app
    from launch.components import Serving

    database = Database.open(settings)
    app = create_app(settings, database.client, mesh=open_mesh_config(settings))
    api = Serving(app, settings, host=args.host, port=args.port)
    with stop.on_signals():
        Lifecycle([api], stop).run()
    return 0


def cmd_alerts(settings: Settings, _args: argparse.Namespace, stop: StopRequest) -> int:
    from alerts.service import AlertService
    from launch.components import Alerting

    database = Database.open(settings)
    alerting = Alerting(AlertService(settings, database.client, mesh=open_mesh_config(settings)))
    with stop.on_signals():
        Lifecycle([alerting], stop).run()
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace, stop: StopRequest) -> int:
    from launch.up import run_all

    with stop.on_signals():
        run_all(settings, stop, host=args.host, port=args.port)
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace, _stop: StopRequest) -> int:
    from simulator.run import main as simulate

    return int(simulate(settings, args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgewatch", description="Edge stats and alerts for a service mesh.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Command, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    add("migrate", cmd_migrate, "apply the numbered migrations in migrations/")
    p = add("ingest", cmd_ingest, "consume request records from Kafka into ClickHouse")
    p.add_argument("--until-caught-up", action="store_true",
                   help="store everything published so far, commit, and exit; waits for the partitions "
                        "as long as the group needs (a crashed member keeps them until its session ends)")
    p.add_argument("--timeout", type=_duration, default=None, metavar="DURATION",
                   help="with --until-caught-up: give up (exit 1) after this long, e.g. 90s or 5m (no limit)")
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
    stop = StopRequest()
    try:
        code = int(args.func(settings, args, stop))
    except (StartError, CatchUpTimeout, InstanceIdInUse, Fenced) as error:
        print(f"edgewatch: {error}", file=sys.stderr)
    except KafkaTimeoutError as error:
        print(f"edgewatch: Kafka at {settings.kafka_bootstrap}: {error}. Start the local broker with "
              "`scripts/local-kafka.sh start`, or set EDGEWATCH_KAFKA_BOOTSTRAP", file=sys.stderr)
    except KafkaError as error:
        print(f"edgewatch: Kafka: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    else:
        stop.exit_by_signal()
        return code
    return 1


if __name__ == "__main__":
    sys.exit(main())
