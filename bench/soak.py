"""Soak: minutes at a sustained rate into a running ``edgewatch up``, while the API is queried and
the rules are evaluated; memory, lag and nothing lost.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 50000]

1. starts ``edgewatch up`` as a process of its own (the embedded engine in a temporary folder, a
   fresh 4-partition topic on the local broker, the shipped rules every 15 s, the console sender);
2. publishes native records at ``--rate`` per second from this process, paced second by second
   (messages of 1,000 lines; each record's request id is ``soak-<n>``, n counting from 0);
3. meanwhile queries ``/api/v1/edges?window=5m``, ``/api/v1/graph?window=1h`` and a drill-down
   once a second from a thread, and every 10 s samples, from another thread, the resident memory
   (VmRSS) of ``edgewatch up``, of the broker and of this process, and from ``edgewatch up``'s
   ``/metrics`` the engine's own tracked memory (``edgewatch_engine_memory_bytes``), glibc's heap
   (Python's: ``edgewatch_heap_bytes``) and how far settling is behind; and the consumer lag
   (messages published but not committed by the group);
4. then waits until the group has committed everything, stops ``edgewatch up`` (SIGTERM) and
   compares what is stored with what was published: the count, the distinct request ids and the
   sum of their numbers (a checksum: ``n (n - 1) / 2``).

Prints each process's memory at the start, at the end of each third of the run, at the end
(caught up) and its highest, with the slope over the second half of the publishing (flat: a
plateau, not a trend); beside ``edgewatch up``'s the engine's tracked memory, its queries' and
glibc's heap; how far settling fell behind, the highest lag, the rate reached, API latency
medians, and whether anything was lost or doubled. The broker, the producer and Edgewatch share
this machine's cores: the rate reached is a finding, not a target.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgewatch.clickhouse import connect  # noqa: E402
from edgewatch.settings import REPO_ROOT  # noqa: E402

PARTITIONS = 4
PER_MESSAGE = 1000
LINE = (b'{"timestamp":%d,"source_workload":"wl-%d","source_namespace":"soak","destination_service":"svc-%d",'
        b'"destination_namespace":"soak","destination_kind":"service","reporter":"source","method":"GET",'
        b'"path":"/items/%d","response_code":%d,"response_flags":"-","duration_ms":%d.5,"request_id":"soak-%d",'
        b'"bytes_sent":512,"bytes_received":128}')


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def broker_pid(bootstrap: str) -> int:
    """The broker's process: this checkout's local broker, else whichever listens on the bootstrap
    port (a broker started from another checkout or worktree); 0 when neither is found."""
    try:
        return int((REPO_ROOT / ".edgewatch" / "kafka" / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        pass
    port = bootstrap.split(",")[0].rpartition(":")[2]
    listing = subprocess.run(["ss", "-H", "-ltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    pid = next(iter(re.findall(r"pid=(\d+)", listing)), "0")
    return int(pid)


def broker_answers(bootstrap: str) -> bool:
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000).close()
    except KafkaError:
        return False
    return True


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lag(admin: KafkaAdminClient, producer_ends: dict[int, int], group: str, topic: str) -> int:
    committed = admin.list_group_offsets(group).get(group, {})
    return sum(end - (committed[TopicPartition(topic, p)].offset if TopicPartition(topic, p) in committed else 0)
               for p, end in producer_ends.items())


@dataclass
class Samples:
    """What the sampler saw every :data:`SAMPLE_EVERY_S`: seconds since the start, MB per process,
    and the engine's part of ``edgewatch up`` (``/metrics``), MB, and settling's lag, s."""

    at: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)
    engine: list[float] = field(default_factory=list)
    engine_queries: list[float] = field(default_factory=list)
    heap: list[float] = field(default_factory=list)
    heap_in_use: list[float] = field(default_factory=list)
    settle_behind: list[float] = field(default_factory=list)

    def take(self, started: float, processes: dict[str, int], http: httpx.Client) -> None:
        at, rss = time.monotonic() - started, {name: rss_mb(pid) for name, pid in processes.items()}
        gauges = scrape(http)  # waits behind the API's queries on its client: taken after the RSS
        self.at.append(at)
        for name, value in rss.items():
            self.rss.setdefault(name, []).append(value)
        self.engine.append(gauges.get('edgewatch_engine_memory_bytes{part="tracked"}', 0.0) / 1e6)
        self.engine_queries.append(gauges.get('edgewatch_engine_memory_bytes{part="queries"}', 0.0) / 1e6)
        self.heap.append(gauges.get('edgewatch_heap_bytes{part="held"}', 0.0) / 1e6)
        self.heap_in_use.append(gauges.get('edgewatch_heap_bytes{part="in_use"}', 0.0) / 1e6)
        self.settle_behind.append(gauges.get("edgewatch_settle_behind_seconds", 0.0))

    def latest(self) -> str:
        if not self.at:
            return "no memory sample yet"
        return (f"RSS up {self.rss['edgewatch up'][-1]:,.0f} MB (engine {self.engine[-1]:,.0f} MB, its queries "
                f"{self.engine_queries[-1]:,.0f} MB; glibc heap {self.heap[-1]:,.0f} MB), "
                f"settled {self.settle_behind[-1]:,.0f} s behind")


SAMPLE_EVERY_S = 10.0


def scrape(http: httpx.Client) -> dict[str, float]:
    """The unlabelled and labelled samples of ``/metrics``, by their full name; empty when it fails."""
    try:
        text = http.get("/metrics").text
    except httpx.HTTPError:
        return {}
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def sample_loop(url: str, started: float, processes: dict[str, int], samples: Samples, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        samples.take(started, processes, http)
        while not stop.wait(SAMPLE_EVERY_S - (time.monotonic() - started) % SAMPLE_EVERY_S):
            samples.take(started, processes, http)


def slope_per_minute(at: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` over ``at`` (seconds), per minute; 0 with fewer than 2 points."""
    if len(at) < 2:
        return 0.0
    return statistics.linear_regression(at, values).slope * 60


def print_memory(samples: Samples, seconds: int) -> None:
    """Start, the end of each third of the run, the end, the highest, and the slope over the second half."""
    def at(moment: float) -> int:  # the last sample taken by then
        return max((i for i, t in enumerate(samples.at) if t <= moment + 1), default=0)

    marks = [0, at(seconds / 3), at(2 * seconds / 3), len(samples.at) - 1]
    half = slice(at(seconds / 2), at(seconds) + 1)  # while publishing, not while the group catches up
    print("\nresident memory (MB): start / 1st third / 2nd third / end / highest; slope over the 2nd half")
    series = {**samples.rss, "  engine tracked": samples.engine, "  engine queries": samples.engine_queries,
              "  glibc heap held": samples.heap, "  glibc heap in use": samples.heap_in_use}
    for name, values in series.items():
        cells = " ".join(f"{values[i]:8,.0f}" for i in marks)
        slope = slope_per_minute(samples.at[half], values[half])
        print(f"  {name:18s} {cells} {max(values):8,.0f}   {slope:+7,.1f} MB/min")
    print(f"settling: at most {max(samples.settle_behind):,.0f} s behind now "
          f"(at the end {samples.settle_behind[-1]:,.0f} s)")


def query_loop(url: str, stop: threading.Event, latencies: dict[str, list[float]], errors: list[str]) -> None:
    paths = {"edges 5m": ("/api/v1/edges", {"window": "5m"}), "graph 1h": ("/api/v1/graph", {"window": "1h"}),
             "drill-down 5m": ("/api/v1/requests", {"window": "5m", "source": "wl-1", "limit": "50"})}
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.wait(1.0):
            for name, (path, params) in paths.items():
                began = time.perf_counter()
                try:
                    http.get(path, params=params).raise_for_status()
                except httpx.HTTPError as error:
                    errors.append(f"{name}: {error}")
                    continue
                latencies[name].append((time.perf_counter() - began) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=50_000, help="records per second")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    if not broker_answers(args.bootstrap):
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "local-kafka.sh"), "start"], check=True)
    folder = Path(tempfile.mkdtemp(prefix="edgewatch-soak-"))
    topic, port = f"soak-{uuid.uuid4().hex[:8]}", free_port()
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    env = {**os.environ, "EDGEWATCH_KAFKA_BOOTSTRAP": args.bootstrap, "EDGEWATCH_KAFKA_TOPIC": topic,
           "EDGEWATCH_KAFKA_GROUP": f"group-{topic}", "EDGEWATCH_CLICKHOUSE_URL": f"chdb://{folder}",
           "EDGEWATCH_API_PORT": str(port), "EDGEWATCH_LOG_LEVEL": "WARNING"}
    with open(folder / "up.log", "w") as up_log:
        up = subprocess.Popen([sys.executable, "-m", "launch.cli", "up"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=up_log)
        try:
            run(args, admin, topic, up, f"http://127.0.0.1:{port}", folder)
        finally:
            if up.poll() is None:
                up.kill()
            admin.delete_topics([topic])
            admin.close()
            shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, admin: KafkaAdminClient, topic: str, up: subprocess.Popen[bytes], url: str,
        folder: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if up.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"edgewatch up did not start: {(folder / 'up.log').read_text()[-2000:]}")
        time.sleep(0.5)
    processes = {"edgewatch up": up.pid, "broker": broker_pid(args.bootstrap), "producer (this)": os.getpid()}
    latencies: dict[str, list[float]] = {"edges 5m": [], "graph 1h": [], "drill-down 5m": []}
    errors: list[str] = []
    stop, samples = threading.Event(), Samples()
    querier = threading.Thread(target=query_loop, args=(url, stop, latencies, errors), daemon=True)
    querier.start()
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=20, batch_size=1 << 20,
                             max_request_size=2 << 20)
    sent, lags, started = 0, [0], time.monotonic()
    sampler = threading.Thread(target=sample_loop, args=(url, started, processes, samples, stop), daemon=True)
    sampler.start()
    ends = dict.fromkeys(range(PARTITIONS), 0)
    seconds = int(args.minutes * 60)
    print(f"soak: {seconds} s at {args.rate:,} records/s into {url} (topic {topic})", flush=True)
    for second in range(seconds):
        now_ms = int(time.time() * 1000)
        for first in range(sent, sent + args.rate, PER_MESSAGE):
            count = min(PER_MESSAGE, sent + args.rate - first)
            message = b"\n".join(LINE % (now_ms + (n % 1000), n % 50, n % 30, n % 1000, 503 if n % 200 == 0 else 200,
                                         n % 97, n) for n in range(first, first + count))
            partition = (first // PER_MESSAGE) % PARTITIONS
            producer.send(topic, message, partition=partition)
            ends[partition] += 1
        sent += args.rate
        producer.flush()
        if second % 10 == 9:
            lags.append(lag(admin, ends, f"group-{topic}", topic))
            print(f"  {second + 1:4d} s: {sent:,} published ({sent / (time.monotonic() - started):,.0f}/s), "
                  f"lag {lags[-1]:,} messages, {samples.latest()}", flush=True)
        behind = started + second + 1 - time.monotonic()
        if behind > 0:
            time.sleep(behind)
    producer.close()
    elapsed = time.monotonic() - started
    print(f"published {sent:,} records in {elapsed:.0f} s ({sent / elapsed:,.0f}/s); waiting for the group ...",
          flush=True)
    drained = time.monotonic()
    while lag(admin, ends, f"group-{topic}", topic) > 0:
        time.sleep(1)
    print(f"  caught up {time.monotonic() - drained:.0f} s after the last record was published", flush=True)
    stop.set()
    querier.join()
    sampler.join()
    with httpx.Client(base_url=url, timeout=60) as http:
        samples.take(started, processes, http)
    up.send_signal(signal.SIGTERM)
    up.wait(timeout=120)
    client = connect(f"chdb://{folder}")
    stored, distinct, total = client.query(
        "SELECT count(), uniqExact(request_id), sum(toUInt64(splitByChar('-', request_id)[2])) FROM requests"
    ).result_rows[0]
    expected = sent * (sent - 1) // 2
    print_memory(samples, seconds)
    print(f"consumer lag: highest {max(lags):,} messages of {PER_MESSAGE:,} records (sampled every 10 s)")
    print("API while soaking (medians): " + ", ".join(
        f"{name} {statistics.median(v):.0f} ms ({len(v)} calls)" for name, v in latencies.items() if v)
        + (f"; {len(errors)} errors, first: {errors[0]}" if errors else "; no errors"))
    lost_or_doubled = stored != sent or distinct != sent or total != expected
    verdict = "LOST OR DOUBLED" if lost_or_doubled else "nothing lost"
    print(f"stored {stored:,} of {sent:,} published, {distinct:,} distinct request ids, checksum "
          f"{'equal' if total == expected else 'DIFFERENT'}: {verdict}")
    if lost_or_doubled:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
