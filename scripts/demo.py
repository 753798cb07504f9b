"""``make demo``: the fleetman story, end to end, on this machine.

Starts the local Kafka broker, runs ``edgewatch up`` (ingester, API and alert evaluator on
the embedded ClickHouse engine) and the simulator's ``driver-monitoring-outage`` scenario,
and shows what Edgewatch says: where to look (the graph page's URL first; it opens nothing
itself), and the alert notifications as they come (to
the console, or to Slack when EDGEWATCH_SLACK_WEBHOOK_URL is set). Ctrl-C stops everything
cleanly. Every run starts a fresh story: its own topic and its own ClickHouse folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".edgewatch" / "demo"
SCENARIO = "driver-monitoring-outage"
# What a real cluster ships: Istio's access-log lines inside Fluent Bit's records (DEMO_FORMAT=native
# for Edgewatch's own records), with the fleetman app's ServiceEntry and VirtualService timeouts.
FORMAT = os.environ.get("DEMO_FORMAT", "fluentbit")
MESH_CONFIG = os.environ.get("EDGEWATCH_MESH_CONFIG", str(ROOT / "deploy" / "mesh" / "fleetman.yaml"))
RATE = os.environ.get("DEMO_RATE", "300")
DURATION = os.environ.get("DEMO_DURATION", "7m")
BOLD, RED, GREEN, DIM, RESET = ("\033[1m", "\033[31m", "\033[32m", "\033[2m", "\033[0m") if sys.stdout.isatty() \
    else ("", "", "", "", "")


def say(text: str) -> None:
    print(f"{BOLD}==> {text}{RESET}", flush=True)


def free_port(preferred: int) -> int:
    for port in (preferred, *range(preferred + 1, preferred + 50)):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise SystemExit("no free port near 8080 for the API; set EDGEWATCH_API_PORT")


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"edgewatch up exited early (code {process.returncode}); see {DEMO_DIR / 'up.log'}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    print(flush=True)
                    return
        except OSError:
            pass
        print(".", end="", flush=True)
        time.sleep(1)
    raise SystemExit(f"the API did not become ready in {timeout:.0f} s; see {DEMO_DIR / 'up.log'}")


class Notifications:
    """Reads ``edgewatch up``'s standard output: console notifications are JSON lines."""

    def __init__(self, stream: object, started: float) -> None:
        self.fired_at: float | None = None
        self.resolved_at: float | None = None
        self.started = started
        self._stream = stream
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self._stream:  # type: ignore[attr-defined]
            try:
                text = json.loads(raw)["text"]
            except (ValueError, KeyError, TypeError):
                print(f"{DIM}{raw.decode(errors='replace').rstrip()}{RESET}", flush=True)
                continue
            at = time.monotonic() - self.started
            color = GREEN if text.startswith("RESOLVED") else RED
            print(f"\n{color}{BOLD}[{at:5.0f}s] ALERT  {text}{RESET}\n", flush=True)
            if "amazonaws.com" in text:
                if text.startswith("RESOLVED"):
                    self.resolved_at = self.resolved_at or at
                else:
                    self.fired_at = self.fired_at or at


def main() -> int:
    port = free_port(int(os.environ.get("EDGEWATCH_API_PORT", "8080")))
    api = f"http://127.0.0.1:{port}"
    say(f"the service graph page: {api}/  (open it yourself: it answers once Edgewatch is up, in about a minute)")
    say("starting the local Kafka broker (the first run downloads its jars with Maven)")
    subprocess.run(["bash", str(ROOT / "scripts" / "local-kafka.sh"), "start"], check=True)

    shutil.rmtree(DEMO_DIR / "clickhouse", ignore_errors=True)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "EDGEWATCH_CLICKHOUSE_URL": f"chdb://{DEMO_DIR / 'clickhouse'}",
        "EDGEWATCH_KAFKA_TOPIC": f"demo-{int(time.time())}",
        "EDGEWATCH_API_PORT": str(port),
        "EDGEWATCH_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "EDGEWATCH_RULES_FILE": os.environ.get("EDGEWATCH_RULES_FILE", str(ROOT / "alerts" / "rules-demo.yaml")),
        "EDGEWATCH_MESH_CONFIG": MESH_CONFIG,
    }
    log = open(DEMO_DIR / "up.log", "wb")  # noqa: SIM115 - open for the life of the demo
    started = time.monotonic()
    say(f"starting edgewatch up (ingester + API + alerts, embedded ClickHouse); log: {DEMO_DIR / 'up.log'}")
    up = subprocess.Popen([sys.executable, "-m", "launch.cli", "up"], env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=log)
    notifications = Notifications(up.stdout, started)
    simulate: subprocess.Popen[bytes] | None = None
    interrupted = False
    try:
        wait_ready(f"{api}/readyz", up)
        say(f"Edgewatch is up. Open the service graph page: {api}/")
        print(f"    service graph page   {api}/?window=5m")
        print(f"    edges, worst first   {api}/api/v1/edges?window=1m")
        print(f"    graph data           {api}/api/v1/graph?window=5m")
        print(f"    alerts               {api}/api/v1/alerts")
        print(f"    failing requests     {api}/api/v1/requests?source=staff-service&status=5xx&limit=5")
        print(f"    API docs             {api}/docs")
        where = "Slack" if env.get("EDGEWATCH_SLACK_WEBHOOK_URL") or env.get("EDGEWATCH_SLACK_BOT_TOKEN") else \
            "this console"
        print(f"    notifications        {where} (rules: {env['EDGEWATCH_RULES_FILE']})")
        print(f"    mesh config          {MESH_CONFIG} (ServiceEntry names, timeouts, retries)")
        say(f"simulating {SCENARIO} for {DURATION} at {RATE} records/s ({FORMAT} records): driver-monitoring "
            "(an external host) slows past its 1s timeout after 45 s and recovers after 225 s. Ctrl-C stops.")
        simulate = subprocess.Popen(
            [sys.executable, "-m", "launch.cli", "simulate", "--scenario", SCENARIO, "--rate", RATE,
             "--duration", DURATION, "--format", FORMAT], env=env, cwd=ROOT)
        while simulate.poll() is None and up.poll() is None:
            if notifications.resolved_at is not None and notifications.fired_at is not None:
                break
            time.sleep(0.5)
        if notifications.fired_at is not None:
            say(f"the outage alert fired {notifications.fired_at:.0f} s after the start"
                + (f" and resolved at {notifications.resolved_at:.0f} s" if notifications.resolved_at else ""))
        else:
            say("no alert about driver-monitoring arrived; see the log")
        return 0 if notifications.fired_at and notifications.resolved_at else 1
    except KeyboardInterrupt:
        interrupted = True
        say("stopping: the ingester stores and commits the batch in hand")
        return 130
    finally:
        for process in (simulate, up):
            if process is None or process.poll() is not None:
                continue
            if not interrupted:  # Ctrl-C already reached the whole process group
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        say(f"stopped. The data stays in {DEMO_DIR / 'clickhouse'} until the next `make demo`; "
            "the broker keeps running (scripts/local-kafka.sh stop).")


if __name__ == "__main__":
    sys.exit(main())
