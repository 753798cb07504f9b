"""Soak: minutes at a sustained rate into a running ``edgewatch up``, while the API is queried and
the rules are evaluated; memory, lag and nothing lost.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 50000]

1. starts ``edgewatch up`` as a process of its own (the embedded engine in a temporary folder, a
   fresh 4-partition topic on the local broker, the shipped rules every 15 s, the console sender);
2. publishes native records at ``--rate`` per second from this process, paced second by second
   (messages of 1,000 lines; each record's request id is ``soak-<n>``, n counting from 0);
3. meanwhile queries ``/api/v1/edges?window=5m``, ``/api/v1/graph?window=1h`` and a drill-down
   once a second from a thread, and every 10 s samples the resident memory (VmRSS) of
   ``edgewatch up``, of the broker and of this process, and the consumer lag (messages published
   but not committed by the group);
4. then waits until the group has committed everything, stops ``edgewatch up`` (SIGTERM) and
   compares what is stored with what was published: the count, the distinct request ids and the
   sum of their numbers (a checksum: ``n (n - 1) / 2``).

Prints each process's memory at the start and the end and its highest, the highest lag, the
rate reached, API latency medians, and whether anything was lost or doubled. The broker, the
producer and Edgewatch share this machine's cores: the rate reached is a finding, not a target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
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


def broker_pid() -> int:
    try:
        return int((REPO_ROOT / ".edgewatch" / "kafka" / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lag(admin: KafkaAdminClient, producer_ends: dict[int, int], group: str, topic: str) -> int:
    committed = admin.list_group_offsets(group).get(group, {})
    return sum(end - (committed[TopicPartition(topic, p)].offset if TopicPartition(topic, p) in committed else 0)
               for p, end in producer_ends.items())


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
    processes = {"edgewatch up": up.pid, "broker": broker_pid(), "producer (this)": os.getpid()}
    memory = {name: [rss_mb(pid)] for name, pid in processes.items()}
    latencies: dict[str, list[float]] = {"edges 5m": [], "graph 1h": [], "drill-down 5m": []}
    errors: list[str] = []
    stop = threading.Event()
    querier = threading.Thread(target=query_loop, args=(url, stop, latencies, errors), daemon=True)
    querier.start()
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=20, batch_size=1 << 20,
                             max_request_size=2 << 20)
    sent, lags, started = 0, [0], time.monotonic()
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
            for name, pid in processes.items():
                memory[name].append(rss_mb(pid))
            lags.append(lag(admin, ends, f"group-{topic}", topic))
            print(f"  {second + 1:4d} s: {sent:,} published ({sent / (time.monotonic() - started):,.0f}/s), "
                  f"lag {lags[-1]:,} messages, RSS up {memory['edgewatch up'][-1]:,.0f} MB", flush=True)
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
    for name, pid in processes.items():
        memory[name].append(rss_mb(pid))
    up.send_signal(signal.SIGTERM)
    up.wait(timeout=120)
    client = connect(f"chdb://{folder}")
    stored, distinct, total = client.query(
        "SELECT count(), uniqExact(request_id), sum(toUInt64(splitByChar('-', request_id)[2])) FROM requests"
    ).result_rows[0]
    expected = sent * (sent - 1) // 2
    print("\nresident memory (MB): start / end / highest")
    for name, values in memory.items():
        print(f"  {name:18s} {values[0]:8,.0f} {values[-1]:8,.0f} {max(values):8,.0f}")
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
