#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft: broker+controller) on
# 127.0.0.1, for Linewatch's integration tests and for trying things by hand.
#
#   scripts/kafka.sh fetch               download the broker jars once (Maven Central)
#   scripts/kafka.sh start [DATA_DIR]    start in the background; prints HOST:PORT
#   scripts/kafka.sh status [DATA_DIR]   exit 0 if running and answering
#   scripts/kafka.sh stop [DATA_DIR]     SIGTERM, wait, then SIGKILL
#   scripts/kafka.sh clean [DATA_DIR]    stop, then delete what start wrote
#
# DATA_DIR defaults to .cache/kafka/run. It receives server.properties,
# log4j2.properties, broker.log (broker stdout/stderr), format.log, kafka.pid,
# bootstrap (the "127.0.0.1:PORT" address) and logs/ (Kafka's data). Starting
# again on a formatted DATA_DIR keeps its data and its ports.
#
# Environment:
#   KAFKA_VERSION        default: <kafka.version> in scripts/kafka/pom.xml
#   KAFKA_CACHE_DIR      default: <repo>/.cache/kafka (jars in <it>/<version>/libs)
#   KAFKA_PORT           PLAINTEXT port (default: a free one)
#   KAFKA_HEAP           JVM -Xmx (default 512m)
#   KAFKA_JVM_OPTS       extra JVM options
#   KAFKA_START_TIMEOUT  seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#
# linewatch.connectors.testing.kafka (class KafkaBroker) does the same from Python, with
# the same templates and data-dir layout; this script calls its stdlib-only
# `probe` command for the readiness check (a real Metadata request).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TPL="$ROOT/scripts/kafka"
POM="$TPL/pom.xml"
PYTHON="${PYTHON:-python3}"
JAVA="${JAVA:-java}"
# The probe is stdlib-only Python in the package, run from this checkout.
PROBE=(env "PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m linewatch.connectors.testing.kafka)

pom_version() { sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$POM" | head -n1; }
VERSION="${KAFKA_VERSION:-$(pom_version)}"
CACHE="${KAFKA_CACHE_DIR:-$ROOT/.cache/kafka}"
LIBS="$CACHE/$VERSION/libs"
HEAP="${KAFKA_HEAP:-512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

SCRIPT=kafka.sh
# shellcheck source=lib/server.sh
source "$ROOT/scripts/lib/server.sh"

usage() { sed -n '2,26s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

data_dir() { # absolute DATA_DIR; created only by start
    local dir="${1:-$CACHE/run}"
    [[ "${2:-}" == create ]] && mkdir -p "$dir"
    if [[ -d "$dir" ]]; then (cd "$dir" && pwd); else echo "$dir"; fi
}

port_free() { # can a listener bind 127.0.0.1:$1 (SO_REUSEADDR, as Java does)?
    "$PYTHON" -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

random_cluster_id() {
    local cid
    while :; do
        cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$cid" == -* ]] || break
    done
    echo "$cid"
}

# Sets JVM=(java + options) for a JVM with heap $1.
jvm() {
    JVM=("$JAVA" "-Xmx$1" -Xms64m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true)
    if [[ -n "${KAFKA_JVM_OPTS:-}" ]]; then
        local -a extra
        read -r -a extra <<<"$KAFKA_JVM_OPTS"
        JVM+=("${extra[@]}")
    fi
}

# pid from DATA_DIR/kafka.pid if that process is alive and is a Kafka broker.
running_pid() {
    local dir="$1" pid
    pid="$(pid_from_file "$dir/kafka.pid")" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    echo "$pid"
}

cmd_fetch() {
    local marker="$LIBS/kafka_2.13-$VERSION.jar"
    if [[ -f "$marker" ]]; then
        echo "kafka $VERSION: jars already cached in $LIBS (nothing to do)"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
    mkdir -p "$CACHE/$VERSION"
    exec 9>"$CACHE/$VERSION/.fetch.lock"
    flock -w 900 9 || die "timed out waiting for another fetch"
    if [[ -f "$marker" ]]; then
        echo "kafka $VERSION: jars cached in $LIBS by a concurrent fetch"
        return 0
    fi
    local tmp="$CACHE/$VERSION/libs.tmp.$$" began=$SECONDS
    rm -rf "$tmp"
    echo "kafka $VERSION: downloading broker jars from Maven Central (mvn) ..."
    if ! mvn -B -q -Dstyle.color=never -f "$POM" -Dkafka.version="$VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" >"$CACHE/$VERSION/mvn.log" 2>&1; then
        rm -rf "$tmp"
        tail -n 40 "$CACHE/$VERSION/mvn.log" >&2
        die "mvn dependency:copy-dependencies failed (log: $CACHE/$VERSION/mvn.log)"
    fi
    [[ -f "$tmp/kafka_2.13-$VERSION.jar" ]] || { rm -rf "$tmp"; die "kafka_2.13-$VERSION.jar missing"; }
    mv "$tmp" "$LIBS"
    echo "kafka $VERSION: fetched $(find "$LIBS" -name '*.jar' | wc -l) jars" \
        "($(du -sh "$LIBS" | cut -f1)) into $LIBS in $((SECONDS - began))s"
}

cmd_start() {
    local dir pid port cport cid began=$SECONDS
    dir="$(data_dir "${1:-}" create)"
    if pid="$(running_pid "$dir")"; then
        say "already running (pid $pid)"
        cat "$dir/bootstrap"
        return 0
    fi
    cmd_fetch >&2

    # Reuse the ports of a formatted data dir (a restart), else pick free ones.
    port="" cport=""
    if [[ -f "$dir/logs/meta.properties" && -f "$dir/server.properties" ]]; then
        port="$(sed -n 's/^advertised\.listeners=PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server.properties")"
        cport="$(sed -n 's/^controller\.quorum\.voters=1@127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server.properties")"
    fi
    port="${KAFKA_PORT:-${port:-$(free_port)}}"
    cport="${cport:-$(free_port)}"
    while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
    port_free "$port" || die "127.0.0.1:$port is already in use"
    port_free "$cport" || die "127.0.0.1:$cport (controller) is already in use"

    mkdir -p "$dir/logs"
    sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" -e "s|@LOG_DIR@|$dir/logs|g" \
        "$TPL/server.properties.in" >"$dir/server.properties"
    cp "$TPL/log4j2.properties" "$dir/log4j2.properties"
    local log4j="-Dlog4j2.configurationFile=$dir/log4j2.properties"

    if [[ ! -f "$dir/logs/meta.properties" ]]; then
        cid="$(random_cluster_id)"
        say "formatting $dir/logs (cluster id $cid)"
        jvm 256m
        # C1 only: the format tool is a short run, where it saves ~0.7 s.
        if ! "${JVM[@]}" -XX:TieredStopAtLevel=1 "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool format \
            --ignore-formatted -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
            tail -n 30 "$dir/format.log" >&2
            die "kafka storage format failed (see $dir/format.log)"
        fi
    fi

    echo "===== kafka.sh: starting at $(date -Is)" >>"$dir/broker.log"
    jvm "$HEAP"
    nohup "${JVM[@]}" "$log4j" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        >>"$dir/broker.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/kafka.pid"

    local deadline=$((SECONDS + START_TIMEOUT))
    until "${PROBE[@]}" probe "127.0.0.1:$port" --timeout 2 >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$dir/broker.log" >&2
            rm -f "$dir/kafka.pid"
            die "broker exited during startup (see $dir/broker.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 40 "$dir/broker.log" >&2
            cmd_stop "$dir" >&2
            die "broker not ready on 127.0.0.1:$port after ${START_TIMEOUT}s"
        fi
        sleep 0.25
    done
    echo "127.0.0.1:$port" >"$dir/bootstrap"
    say "kafka $VERSION ready in $((SECONDS - began))s: pid $pid, data $dir"
    echo "127.0.0.1:$port"
}

cmd_stop() {
    local dir pid
    dir="$(data_dir "${1:-}")"
    if pid="$(running_pid "$dir")"; then
        stop_pid "$pid" "$STOP_TIMEOUT"
        echo "kafka.sh: stopped pid $pid"
    else
        echo "kafka.sh: not running"
    fi
    [[ -d "$dir" ]] && rm -f "$dir/kafka.pid" "$dir/bootstrap"
    return 0
}

cmd_status() {
    local dir pid
    dir="$(data_dir "${1:-}")"
    if ! pid="$(running_pid "$dir")"; then
        echo "not running ($dir)"
        return 3
    fi
    local bootstrap
    bootstrap="$(cat "$dir/bootstrap" 2>/dev/null || true)"
    if [[ -n "$bootstrap" ]] && "${PROBE[@]}" probe "$bootstrap" --timeout 2 >/dev/null 2>&1; then
        echo "running: pid $pid, bootstrap $bootstrap, data $dir"
        return 0
    fi
    echo "running but not answering: pid $pid, data $dir"
    return 2
}

cmd_clean() {
    local dir
    dir="$(data_dir "${1:-}")"
    cmd_stop "$dir"
    rm -rf "$dir/logs"
    rm -f "$dir/server.properties" "$dir/log4j2.properties" "$dir/broker.log" "$dir/format.log"
    rmdir "$dir" 2>/dev/null || true
    echo "kafka.sh: cleaned $dir"
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    start) cmd_start "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    status) cmd_status "${2:-}" ;;
    clean) cmd_clean "${2:-}" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 64 ;;
esac
