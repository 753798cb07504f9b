#!/usr/bin/env bash
# Run a real, single-node Apache Kafka 4.x broker (KRaft: broker + controller in one JVM)
# for local development and tests, without Docker.
#
#   scripts/local-kafka.sh start    download jars (first run only), format storage, start, wait
#   scripts/local-kafka.sh stop     stop cleanly (SIGTERM, then SIGKILL after 30 s)
#   scripts/local-kafka.sh status   exit 0 if running and answering, 1 otherwise
#   scripts/local-kafka.sh logs     last 100 lines of the broker log (`logs -f` to follow)
#   scripts/local-kafka.sh reset    stop and delete all topics/data (keeps the downloaded jars)
#
# Environment:
#   KAFKA_PORT             broker listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener on 127.0.0.1 (default 9093)
#   KAFKA_PARTITIONS       partitions of auto-created topics (default 4)
#   KAFKA_HEAP_OPTS        JVM heap options (default "-Xms256m -Xmx1g")
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 60)
#   JAVA_HOME              optional; otherwise `java` from PATH is used
#
# Everything lives in <repo>/.edgewatch/kafka/ (git-ignored):
#   libs/ (jars), data/ (topics and KRaft metadata), logs/server.log, server.properties,
#   log4j2.properties, kafka.pid.
# Jars come from Maven Central through scripts/kafka/pom.xml; once they are there, start is
# offline.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

KAFKA_HOME="$REPO_ROOT/.edgewatch/kafka"
LIBS_DIR="$KAFKA_HOME/libs"
DATA_DIR="$KAFKA_HOME/data"
LOG_DIR="$KAFKA_HOME/logs"
SERVER_LOG="$LOG_DIR/server.log"
# The JVM's own stdout/stderr: nearly empty, but it is where a crash before logging starts
# (wrong Java version, bad option) shows up.
CONSOLE_LOG="$LOG_DIR/console.log"
PROPS="$KAFKA_HOME/server.properties"
LOG4J_CONF="$KAFKA_HOME/log4j2.properties"
PID_FILE="$KAFKA_HOME/kafka.pid"
# Sizes of server.log and console.log when the last start began: readiness checks and error
# reports look only at what this run wrote.
RUN_OFFSETS="$LOG_DIR/.run-offsets"
# Written after a complete download; holds a hash of the POM so that changing the Kafka
# version there triggers a fresh download.
LIBS_STAMP="$LIBS_DIR/.complete"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-4}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT=30
HOST=127.0.0.1

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

info() { echo "local-kafka: $*"; }
die() { echo "local-kafka: ERROR: $*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------------
# Prerequisites

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 ||
    die "'java' not found. Install a JDK 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME."
  # First line looks like: openjdk version "17.0.15" 2025-04-15  (or "1.8.0_392" for Java 8)
  local line version major
  line="$("$JAVA" -version 2>&1 | head -n 1)"
  version="$(sed -n 's/.*version "\([^"]*\)".*/\1/p' <<<"$line")"
  [[ -n "$version" ]] || die "cannot parse the Java version from: $line"
  major="${version%%.*}"
  if [[ "$major" == 1 ]]; then # old scheme: 1.8.0_392 means Java 8
    major="$(cut -d. -f2 <<<"$version")"
  fi
  major="${major%%[!0-9]*}"
  if [[ -z "$major" ]] || ((major < 17)); then
    die "Kafka 4.x brokers need Java 17 or newer; '$JAVA' is $version. Install JDK 17+ or point JAVA_HOME at one."
  fi
}

# Only needed for the first download (or after the POM changed).
check_mvn() {
  command -v mvn >/dev/null 2>&1 ||
    die "'mvn' (Apache Maven 3.x) not found; it is needed once to download the Kafka jars into $LIBS_DIR. Install it (Debian/Ubuntu: apt-get install maven) and retry."
}

check_port_number() {
  local name="$1" value="$2"
  [[ "$value" =~ ^[0-9]+$ ]] && ((value > 0 && value < 65536)) || die "$name must be a TCP port number, got '$value'"
}

# ---------------------------------------------------------------------------------------------
# Small helpers

pom_hash() { cksum <"$POM" | tr -d ' '; }

libs_ready() {
  [[ -f "$LIBS_STAMP" && "$(cat "$LIBS_STAMP")" == "$(pom_hash)" ]] && compgen -G "$LIBS_DIR/kafka_*.jar" >/dev/null
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp; no nc needed).
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# True if a Kafka broker on 127.0.0.1:$1 answers an ApiVersions request without error.
# This is the request every client sends first, so a good answer means clients can talk to it.
# Request (ApiVersions v0): size=12 | api_key=18 | api_version=0 | correlation_id=1 | client_id "ew"
# Response starts: size (4 bytes) | correlation_id=1 | error_code=0
kafka_answers() {
  local reply
  reply="$(timeout 3 bash -c "
      exec 3<>/dev/tcp/$HOST/$1 || exit 1
      printf '\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02ew' >&3
      head -c 10 <&3 | od -An -tx1" 2>/dev/null)" || return 1
  reply="$(tr -d ' \n' <<<"$reply")"
  [[ "${reply:8:12}" == "000000010000" ]]
}

# Pid from kafka.pid if that process is alive and really is our broker (pids get reused).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ps -ww -o args= -p "$pid" 2>/dev/null | grep -cF "kafka.Kafka $PROPS" >/dev/null || return 1
  echo "$pid"
}

# Broker port of the running instance (from the server.properties it was started with), so
# that status/start do not probe the wrong port when KAFKA_PORT differs from that run's.
running_port() {
  sed -n 's|^listeners=PLAINTEXT://[^,]*:\([0-9]*\),.*|\1|p' "$PROPS" 2>/dev/null
}

file_size() { if [[ -f "$1" ]]; then wc -c <"$1" | tr -d ' '; else echo 0; fi; }

remember_log_offsets() {
  echo "$(file_size "$SERVER_LOG") $(file_size "$CONSOLE_LOG")" >"$RUN_OFFSETS"
}

# What the last start wrote to a log: `log_since_start server|console`.
log_since_start() {
  local file offset=0 server_offset=0 console_offset=0
  if [[ -f "$RUN_OFFSETS" ]]; then
    read -r server_offset console_offset <"$RUN_OFFSETS" || true
  fi
  if [[ "$1" == server ]]; then file="$SERVER_LOG" offset="$server_offset"; else file="$CONSOLE_LOG" offset="$console_offset"; fi
  [[ -f "$file" ]] || return 0
  # The log may have been rotated since (server.log rolls over at 50 MB).
  if ((offset > $(file_size "$file"))); then offset=0; fi
  tail -c +"$((offset + 1))" "$file"
}

# ---------------------------------------------------------------------------------------------
# Setup: jars, configuration, storage

download_libs() {
  if libs_ready; then
    return 0
  fi
  check_mvn
  info "downloading Kafka jars from Maven Central into $LIBS_DIR (first run only, ~45 MB)..."
  # Download into a temporary folder and swap it in, so an interrupted download never looks
  # complete.
  local tmp="$KAFKA_HOME/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # The sed drops the bare colour resets (ESC[0m) that Maven 3.8 prints even with -q -B;
  # pipefail keeps Maven's exit status.
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 |
    sed 's/\x1b\[0m//g'; then
    rm -rf "$tmp"
    die "Maven could not download the Kafka jars (see above). Check access to Maven Central (repo.maven.apache.org), proxy settings in ~/.m2/settings.xml, and retry."
  fi
  pom_hash >"$tmp/.complete"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  info "downloaded $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS_DIR" | cut -f1))."
}

# Rewritten on every start so that KAFKA_* changes take effect.
write_config() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  cat >"$PROPS" <<EOF
# Generated by scripts/local-kafka.sh on every start; edit the script, not this file.
# Single node in KRaft mode: this JVM is both the broker and the (only) controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR

# Topics: created on first use, with KAFKA_PARTITIONS partitions and one replica.
auto.create.topics.enable=true
num.partitions=$KAFKA_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
# Internal topics must fit on one broker. Fewer partitions than the default 50 make the
# first consumer group / transaction on a fresh broker noticeably quicker.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests join and leave groups all the time: no 3 s wait before the first rebalance.
group.initial.rebalance.delay.ms=0

# Keep data until 'reset'. Retention by time would also drop records whose own timestamps
# are old (replayed historical logs) right after they were written.
log.retention.ms=-1
log.retention.bytes=-1
EOF

  # Log4j 2 configuration (properties format: needs nothing beyond log4j-core).
  cat >"$LOG4J_CONF" <<EOF
# Generated by scripts/local-kafka.sh.
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $SERVER_LOG
appender.file.filePattern = $SERVER_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
# One line per request at INFO/DEBUG: far too chatty.
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

classpath() { echo "$LIBS_DIR/*"; }

format_storage() {
  # meta.properties is written by the format step; its presence means "formatted".
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  info "formatting storage in $DATA_DIR (first start)..."
  local cluster_id
  cluster_id="$("$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$LOG4J_CONF" \
    kafka.tools.StorageTool random-uuid)"
  # --standalone: this node is the only voter of a dynamic (KIP-853) controller quorum, which
  # is what controller.quorum.bootstrap.servers (rather than controller.quorum.voters) implies.
  "$JAVA" -cp "$(classpath)" -Dlog4j2.configurationFile="$LOG4J_CONF" \
    kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$PROPS" >>"$CONSOLE_LOG" 2>&1 ||
    {
      tail -n 30 "$CONSOLE_LOG" >&2
      die "formatting the storage failed (output above, also in $CONSOLE_LOG). Try: $0 reset"
    }
}

# ---------------------------------------------------------------------------------------------
# Commands

print_hint() {
  echo "  export EDGEWATCH_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT"
}

cmd_start() {
  check_port_number KAFKA_PORT "$KAFKA_PORT"
  check_port_number KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
  [[ "$KAFKA_PARTITIONS" =~ ^[1-9][0-9]*$ ]] || die "KAFKA_PARTITIONS must be a positive number, got '$KAFKA_PARTITIONS'"

  local pid running
  if pid="$(running_pid)"; then
    running="$(running_port)"
    if [[ -n "$running" && "$running" != "$KAFKA_PORT" ]]; then
      die "already running (pid $pid) on $HOST:$running, not on KAFKA_PORT=$KAFKA_PORT; run '$0 stop' first to change ports"
    fi
    if kafka_answers "$KAFKA_PORT"; then
      info "already running (pid $pid) on $HOST:$KAFKA_PORT"
      print_hint
      return 0
    fi
    # Alive but not answering: most likely still starting (another 'start' is in progress).
    info "process $pid exists but does not answer on $HOST:$KAFKA_PORT yet; waiting for it..."
    wait_ready "$pid"
    return 0
  fi

  # Nothing of ours is running: the ports must be free, or the broker would die at once.
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "port $port on $HOST is already in use by another process (another Kafka?). Stop it, or choose other ports: KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 $0 start"
    fi
  done

  check_java
  mkdir -p "$KAFKA_HOME"
  download_libs
  write_config
  format_storage

  # Remember where this run's log output begins, so the readiness check does not pick up
  # a "started" line from an earlier run.
  remember_log_offsets

  info "starting Kafka on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)..."
  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several options on purpose
  local -a cmd=(
    "$JAVA" $KAFKA_HEAP_OPTS
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$LOG4J_CONF"
    -cp "$(classpath)"
    kafka.Kafka "$PROPS"
  )
  # Detach from this shell (own session when setsid exists) so that closing the terminal or
  # the script's process group ending does not take the broker down with it.
  if command -v setsid >/dev/null 2>&1; then
    setsid "${cmd[@]}" >>"$CONSOLE_LOG" 2>&1 </dev/null &
  else
    nohup "${cmd[@]}" >>"$CONSOLE_LOG" 2>&1 </dev/null &
  fi
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
}

# Wait until the broker answers an ApiVersions request on its port and this run has logged
# that it started, or fail after KAFKA_START_TIMEOUT seconds.
wait_ready() {
  local pid="$1" waited=0
  printf 'local-kafka: waiting for the broker'
  while ((waited < KAFKA_START_TIMEOUT)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo
      rm -f "$PID_FILE"
      start_failed "the broker process (pid $pid) exited during startup."
    fi
    # (grep -c, not grep -q: -q stops reading early, and with pipefail the writer's SIGPIPE
    # would make the whole test fail.)
    if kafka_answers "$KAFKA_PORT" &&
      log_since_start server | grep -c "Kafka Server started" >/dev/null; then
      echo " ready after ${waited}s"
      info "running (pid $pid); bootstrap server $HOST:$KAFKA_PORT; log: $SERVER_LOG"
      print_hint
      return 0
    fi
    printf '.'
    sleep 1
    waited=$((waited + 1))
  done
  echo
  start_failed "the broker did not become ready within ${KAFKA_START_TIMEOUT}s (pid $pid is still running; see '$0 logs', or '$0 stop')."
}

start_failed() {
  echo "local-kafka: ERROR: $1" >&2
  echo "---- last 30 lines of $SERVER_LOG (this run) ----" >&2
  log_since_start server | tail -n 30 >&2
  local console
  console="$(log_since_start console | tail -n 30)"
  if [[ -n "$console" ]]; then
    echo "---- $CONSOLE_LOG (JVM output, this run) ----" >&2
    echo "$console" >&2
  fi
  cat >&2 <<EOF
----
What to do:
  - "Address already in use": another program holds port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT;
    stop it, or set KAFKA_PORT / KAFKA_CONTROLLER_PORT.
  - errors about meta.properties, cluster id or the metadata log: the data folder is damaged
    or from another setup; '$0 reset' deletes it (all topics are lost).
  - OutOfMemoryError: raise KAFKA_HEAP_OPTS (now "$KAFKA_HEAP_OPTS").
  - slow machine: KAFKA_START_TIMEOUT=180 $0 start
EOF
  exit 1
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    info "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  info "stopping Kafka (pid $pid)..."
  # SIGTERM makes Kafka shut down cleanly (flush logs, close the metadata log), which keeps
  # the next start fast; SIGKILL only if that hangs.
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= STOP_TIMEOUT)); then
      info "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  # Only our pid: a 'start' running meanwhile may already have written a new one.
  if [[ "$(cat "$PID_FILE" 2>/dev/null)" == "$pid" ]]; then
    rm -f "$PID_FILE"
  fi
  info "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    KAFKA_PORT="$(running_port)"
    KAFKA_PORT="${KAFKA_PORT:-9092}"
    if kafka_answers "$KAFKA_PORT"; then
      info "running (pid $pid) on $HOST:$KAFKA_PORT"
      return 0
    fi
    info "process $pid is alive but does not answer on $HOST:$KAFKA_PORT (starting, or unhealthy: see '$0 logs')"
    return 1
  fi
  info "not running"
  return 1
}

cmd_logs() {
  [[ -f "$SERVER_LOG" ]] || die "no log yet ($SERVER_LOG); run '$0 start' first"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n 100 -F "$SERVER_LOG"
  fi
  tail -n 100 "$SERVER_LOG"
}

cmd_reset() {
  cmd_stop
  info "deleting data, logs and generated configuration (keeping the jars in $LIBS_DIR)"
  rm -rf "$DATA_DIR" "$LOG_DIR" "$PROPS" "$LOG4J_CONF" "$PID_FILE"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  logs) cmd_logs "${2:-}" ;;
  reset) cmd_reset ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
