#!/usr/bin/env bash
# Real InfluxDB-compatible servers on 127.0.0.1, for Linewatch's integration
# tests and for trying things by hand.
#
#   scripts/influxdb.sh install                 install/build all three (idempotent)
#   scripts/influxdb.sh start KIND [DATA_DIR]   start in the background; prints the URL
#   scripts/influxdb.sh status KIND [DATA_DIR]  exit 0 if running and answering /ping
#   scripts/influxdb.sh stop KIND [DATA_DIR]    SIGTERM, wait, then SIGKILL
#   scripts/influxdb.sh clean KIND [DATA_DIR]   stop, then delete what start wrote
#   scripts/influxdb.sh binary KIND             print the server binary's path
#
# KIND is one of:
#   influx1   Debian's InfluxDB 1.6.7 (apt package influxdb): v1 API only
#             (/write, /query, /ping); no /api/v2/write, no "Token" auth.
#   influx11  InfluxDB OSS 1.11.x built from Go modules (+ flux's Rust libflux):
#             v1 API plus the v2 compatibility API (/api/v2/write?bucket=db/rp,
#             "Authorization: Token user:pass", /api/v2/query with Flux).
#   vm        Debian's VictoriaMetrics 1.79 (apt package victoria-metrics):
#             line protocol on /write and /api/v2/write, read via /api/v1/export.
#
# DATA_DIR defaults to $INFLUXDB_CACHE_DIR/run/KIND. It receives influxdb.conf
# (influx*), server.log, server.pid, url and the server's data. Starting again
# on the same DATA_DIR keeps its data and its port.
#
# install needs root (apt-get) for influx1/vm, and Go + cargo (rustup stable)
# for influx11: 5 to 9 minutes on 2 cores the first time (measured), then
# cached in $INFLUXDB_CACHE_DIR/<version>/bin/influxd.
#
# Environment:
#   INFLUXDB_CACHE_DIR      default ${XDG_CACHE_HOME:-$HOME/.cache}/linewatch/influxdb
#                           (outside the work tree: CI runs in a fresh clone,
#                           but on the same machine, so the build is kept)
#   INFLUXDB11_VERSION      InfluxDB OSS version to build (default 1.11.8)
#   INFLUXDB_SKIP_BUILD=1   install only the apt packages (no influx11)
#   INFLUXDB_KEEP_BUILD=1   keep the Go/Rust build caches (~2.7 GB) after a build
#   INFLUXDB_PORT           HTTP port for start (default: a free one)
#   INFLUXDB_AUTH=user:pass start influx1/influx11 with auth-enabled and that admin
#   INFLUXDB_START_TIMEOUT  seconds to wait for /ping (default 60)
#   INFLUXDB_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#
# linewatch.connectors.testing.influxdb (Influx1Server, Influx11Server,
# VictoriaMetricsServer) does the same from Python with the same config
# template (scripts/influxdb/influxdb.conf.in) and data-dir layout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TPL="$ROOT/scripts/influxdb/influxdb.conf.in"
CAP_LINTS="$ROOT/scripts/influxdb/rustc-cap-lints"
PYTHON="${PYTHON:-python3}"
CACHE="${INFLUXDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/linewatch/influxdb}"
V11="${INFLUXDB11_VERSION:-1.11.8}"
V11_BIN="$CACHE/$V11/bin/influxd"
START_TIMEOUT="${INFLUXDB_START_TIMEOUT:-60}"
STOP_TIMEOUT="${INFLUXDB_STOP_TIMEOUT:-30}"
# Debian package -> binary
INFLUX1_BIN="${INFLUXDB1_BINARY:-/usr/bin/influxd}"
VM_BIN="${VICTORIA_METRICS_BINARY:-/usr/bin/victoria-metrics}"

SCRIPT=influxdb.sh
# shellcheck source=lib/server.sh
source "$ROOT/scripts/lib/server.sh"

usage() { sed -n '2,43s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root for: $*"
    fi
}

# --- install ---------------------------------------------------------------------

install_apt() {
    local -a missing=()
    [[ -x /usr/bin/influxd ]] || missing+=(influxdb)
    [[ -x /usr/bin/victoria-metrics ]] || missing+=(victoria-metrics)
    if [[ -z "${INFLUXDB_SKIP_BUILD:-}" ]]; then
        command -v pkg-config >/dev/null || missing+=(pkg-config)
        command -v cc >/dev/null || missing+=(gcc)
    fi
    command -v curl >/dev/null || missing+=(curl)
    if ((${#missing[@]} == 0)); then
        echo "influxdb 1.6.7 and victoria-metrics: already installed"
        return 0
    fi
    local began=$SECONDS
    echo "apt-get install ${missing[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # On a host with systemd the packages start system daemons on :8086 and
    # :8428 (all interfaces). The tests start their own; stop those.
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
        local unit
        for unit in influxdb victoria-metrics; do
            as_root systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
    echo "installed ${missing[*]} in $((SECONDS - began))s"
}

install_influx11() {
    if [[ -x "$V11_BIN" ]]; then
        echo "influxdb $V11: already built ($V11_BIN)"
        return 0
    fi
    command -v go >/dev/null || die "go not found (needed to build influxdb $V11)"
    command -v cargo >/dev/null || die "cargo not found (needed for flux's libflux)"
    mkdir -p "$CACHE/$V11"
    exec 9>"$CACHE/$V11/.build.lock"
    flock -w 1800 9 || die "timed out waiting for another build"
    if [[ -x "$V11_BIN" ]]; then
        echo "influxdb $V11: built by a concurrent install ($V11_BIN)"
        return 0
    fi
    local build="$CACHE/build" began=$SECONDS log="$CACHE/$V11/build.log"
    echo "influxdb $V11: building influxd from Go modules (+ Rust libflux) ..."
    mkdir -p "$build/bin"
    # flux's cgo package asks pkg-config for "flux"; influxdata/pkg-config is a
    # pkg-config wrapper that builds libflux with cargo (from the flux module
    # source in the module cache) and then defers to the real pkg-config.
    # flux pins Rust 1.68 (rust-toolchain.toml), which rustup cannot fetch
    # here: build with stable, lints capped (see scripts/influxdb/rustc-cap-lints).
    if ! (
        export GOPATH="$build/gopath" GOCACHE="$build/gocache" GOBIN="$build/bin"
        export GOFLAGS="-mod=mod -modcacherw -buildvcs=false" CGO_ENABLED=1 GOTOOLCHAIN=local
        export PATH="$build/bin:$PATH" RUSTC_WRAPPER="$CAP_LINTS"
        if command -v rustup >/dev/null; then export RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-stable}"; fi
        go install github.com/influxdata/pkg-config@v0.2.7
        go install -ldflags "-X main.version=$V11 -X main.branch=v$V11 -X main.commit=go-module" \
            "github.com/influxdata/influxdb/cmd/influxd@v$V11"
    ) >"$log" 2>&1; then
        grep -v '^go: downloading' "$log" | tail -n 40 >&2
        die "building influxdb $V11 failed after $((SECONDS - began))s (log: $log)"
    fi
    mkdir -p "$CACHE/$V11/bin"
    cp "$build/bin/influxd" "$V11_BIN.tmp"
    mv "$V11_BIN.tmp" "$V11_BIN"
    "$V11_BIN" version
    echo "influxdb $V11: built in $((SECONDS - began))s -> $V11_BIN"
    if [[ -z "${INFLUXDB_KEEP_BUILD:-}" ]]; then
        rm -rf "$build"
    fi
}

cmd_install() {
    install_apt
    if [[ -n "${INFLUXDB_SKIP_BUILD:-}" ]]; then
        echo "influxdb $V11: build skipped (INFLUXDB_SKIP_BUILD set)"
    else
        install_influx11
    fi
}

# --- start/stop ------------------------------------------------------------------

binary_of() {
    case "$1" in
        influx1) echo "$INFLUX1_BIN" ;;
        influx11) echo "${INFLUXDB11_BINARY:-$V11_BIN}" ;;
        vm) echo "$VM_BIN" ;;
        *) die "unknown KIND '$1' (influx1, influx11 or vm)" ;;
    esac
}

data_dir() {
    local dir="${2:-$CACHE/run/$1}"
    mkdir -p "$dir"
    (cd "$dir" && pwd)
}

ping_ok() { # 204 from /ping?
    [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1/ping" 2>/dev/null)" == 204 ]]
}

running_pid() { pid_from_file "$1/server.pid"; }

cmd_start() {
    local kind="$1" dir bin pid port rport began=$SECONDS
    bin="$(binary_of "$kind")"
    dir="$(data_dir "$kind" "${2:-}")"
    [[ -x "$bin" ]] || die "$bin not found: run scripts/influxdb.sh install"
    if pid="$(running_pid "$dir")"; then
        say "already running (pid $pid)"
        cat "$dir/url"
        return 0
    fi
    port="${INFLUXDB_PORT:-$(cat "$dir/http.port" 2>/dev/null || free_port)}"
    echo "$port" >"$dir/http.port"
    local -a cmd
    if [[ "$kind" == vm ]]; then
        cmd=("$bin" "-httpListenAddr=127.0.0.1:$port" "-storageDataPath=$dir/vmdata"
            -retentionPeriod=100y -dedup.minScrapeInterval=1ms -search.latencyOffset=0s
            -loggerLevel=WARN -loggerOutput=stdout)
    else
        rport="$(cat "$dir/rpc.port" 2>/dev/null || free_port)"
        while [[ "$rport" == "$port" ]]; do rport="$(free_port)"; done
        echo "$rport" >"$dir/rpc.port"
        local auth=false flux=false
        [[ -n "${INFLUXDB_AUTH:-}" ]] && auth=true
        [[ "$kind" == influx11 ]] && flux=true
        sed -e "s|@DIR@|$dir|g" -e "s|@HTTP_PORT@|$port|g" -e "s|@RPC_PORT@|$rport|g" \
            -e "s|@AUTH_ENABLED@|$auth|g" -e "s|@FLUX_ENABLED@|$flux|g" "$TPL" >"$dir/influxdb.conf"
        cmd=("$bin" run -config "$dir/influxdb.conf")
    fi
    echo "===== influxdb.sh: starting $kind at $(date -Is)" >>"$dir/server.log"
    nohup "${cmd[@]}" >>"$dir/server.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/server.pid"
    local url="http://127.0.0.1:$port" deadline=$((SECONDS + START_TIMEOUT))
    until ping_ok "$url"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$dir/server.log" >&2
            rm -f "$dir/server.pid"
            die "$kind exited during startup (see $dir/server.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$dir/server.log" >&2
            cmd_stop "$kind" "$dir" >&2
            die "$kind not answering $url/ping after ${START_TIMEOUT}s"
        fi
        sleep 0.1
    done
    if [[ -n "${INFLUXDB_AUTH:-}" && "$kind" != vm ]]; then
        # First admin: accepted without credentials check while no user exists;
        # re-running it with the right credentials later is a no-op.
        local user="${INFLUXDB_AUTH%%:*}" pass="${INFLUXDB_AUTH#*:}"
        curl -sf -u "$user:$pass" -XPOST "$url/query" \
            --data-urlencode "q=CREATE USER \"$user\" WITH PASSWORD '$pass' WITH ALL PRIVILEGES" \
            >/dev/null || die "could not create admin user $user"
    fi
    echo "$url" >"$dir/url"
    say "$kind ready in $((SECONDS - began))s: pid $pid, data $dir"
    echo "$url"
}

cmd_stop() {
    local kind="$1" dir pid
    binary_of "$kind" >/dev/null
    dir="$(data_dir "$kind" "${2:-}")"
    if pid="$(running_pid "$dir")"; then
        stop_pid "$pid" "$STOP_TIMEOUT"
        echo "influxdb.sh: stopped $kind pid $pid"
    else
        echo "influxdb.sh: $kind not running"
    fi
    rm -f "$dir/server.pid" "$dir/url"
}

cmd_status() {
    local kind="$1" dir pid url
    binary_of "$kind" >/dev/null
    dir="$(data_dir "$kind" "${2:-}")"
    if ! pid="$(running_pid "$dir")"; then
        echo "$kind not running ($dir)"
        return 3
    fi
    url="$(cat "$dir/url" 2>/dev/null || true)"
    if [[ -n "$url" ]] && ping_ok "$url"; then
        echo "$kind running: pid $pid, $url, data $dir"
        return 0
    fi
    echo "$kind running but not answering: pid $pid, data $dir"
    return 2
}

cmd_clean() {
    local kind="$1" dir
    dir="$(data_dir "$kind" "${2:-}")"
    cmd_stop "$kind" "$dir"
    rm -rf "$dir/meta" "$dir/data" "$dir/wal" "$dir/vmdata"
    rm -f "$dir/influxdb.conf" "$dir/server.log" "$dir/http.port" "$dir/rpc.port"
    rmdir "$dir" 2>/dev/null || true
    echo "influxdb.sh: cleaned $dir"
}

need_kind() { [[ -n "${1:-}" ]] || { usage >&2; exit 64; }; }

case "${1:-}" in
    install) cmd_install ;;
    start) need_kind "${2:-}"; cmd_start "$2" "${3:-}" ;;
    stop) need_kind "${2:-}"; cmd_stop "$2" "${3:-}" ;;
    status) need_kind "${2:-}"; cmd_status "$2" "${3:-}" ;;
    clean) need_kind "${2:-}"; cmd_clean "$2" "${3:-}" ;;
    binary) need_kind "${2:-}"; binary_of "$2" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 64 ;;
esac
