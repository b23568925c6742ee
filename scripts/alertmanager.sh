#!/usr/bin/env bash
# A real Prometheus Alertmanager on 127.0.0.1, built from Go modules, for
# Linewatch's integration tests and for trying things by hand.
#
#   scripts/alertmanager.sh install              build and cache the binary (idempotent)
#   scripts/alertmanager.sh start [DATA_DIR]     start in the background; prints the URL
#   scripts/alertmanager.sh status [DATA_DIR]    exit 0 if running and answering /-/ready
#   scripts/alertmanager.sh stop [DATA_DIR]      SIGTERM, wait, then SIGKILL
#   scripts/alertmanager.sh binary               print the binary's path
#
# install downloads github.com/prometheus/alertmanager@v$VERSION through the Go
# module proxy, copies the module to a writable temp dir, adds placeholder UI
# assets (ui/web.go embeds ui/app/dist, which the module zip lacks: the web UI
# is built with npm/elm upstream) and builds ./cmd/alertmanager. About 2
# minutes on 2 cores the first time, then cached in
# $ALERTMANAGER_CACHE_DIR/<version>/bin/alertmanager. The API (/api/v2/...) and
# notifications work as upstream; only the web UI pages are placeholders.
#
# DATA_DIR defaults to $ALERTMANAGER_CACHE_DIR/run. It receives
# alertmanager.yml (written by start unless present: one webhook receiver at
# $ALERTMANAGER_WEBHOOK_URL), server.log, server.pid, url and data/.
#
# Environment:
#   ALERTMANAGER_CACHE_DIR      default ${XDG_CACHE_HOME:-$HOME/.cache}/linewatch/alertmanager
#                               (outside the work tree: CI runs in a fresh clone,
#                               but on the same machine, so the build is kept)
#   ALERTMANAGER_VERSION        default 0.35.0
#   ALERTMANAGER_PORT           HTTP port for start (default: a free one)
#   ALERTMANAGER_WEBHOOK_URL    receiver URL in the config start writes
#                               (default http://127.0.0.1:9/ : nothing listens)
#   ALERTMANAGER_START_TIMEOUT  seconds to wait for /-/ready (default 60)
#   ALERTMANAGER_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#
# linewatch.connectors.testing.alertmanager (AlertmanagerServer) does the same
# from Python (the config of scripts/alertmanager/alertmanager.yml.in, as JSON),
# with the same data-dir layout, so status|stop DATA_DIR work on either.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TPL="$ROOT/scripts/alertmanager/alertmanager.yml.in"
PYTHON="${PYTHON:-python3}"
VERSION="${ALERTMANAGER_VERSION:-0.35.0}"
CACHE="${ALERTMANAGER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/linewatch/alertmanager}"
BIN="$CACHE/$VERSION/bin/alertmanager"
START_TIMEOUT="${ALERTMANAGER_START_TIMEOUT:-60}"
STOP_TIMEOUT="${ALERTMANAGER_STOP_TIMEOUT:-30}"
MODULE="github.com/prometheus/alertmanager"

SCRIPT=alertmanager.sh
# shellcheck source=lib/server.sh
source "$ROOT/scripts/lib/server.sh"

usage() { sed -n '2,36s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# --- install ---------------------------------------------------------------------

json_field() { # json_field KEY < go-mod-download-json
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

cmd_install() {
    if [[ -x "$BIN" ]]; then
        echo "alertmanager $VERSION: already built ($BIN)"
        return 0
    fi
    command -v go >/dev/null || die "go not found (needed to build alertmanager $VERSION)"
    mkdir -p "$CACHE/$VERSION"
    exec 9>"$CACHE/$VERSION/.build.lock"
    flock -w 900 9 || die "timed out waiting for another build"
    if [[ -x "$BIN" ]]; then
        echo "alertmanager $VERSION: built by a concurrent install ($BIN)"
        return 0
    fi
    local began=$SECONDS log="$CACHE/$VERSION/build.log" work meta dir
    work="$(mktemp -d "${TMPDIR:-/tmp}/linewatch-alertmanager-build.XXXXXX")"
    # shellcheck disable=SC2064  # expand $work now
    trap "chmod -R u+w '$work' 2>/dev/null; rm -rf '$work'" EXIT
    echo "alertmanager $VERSION: building from Go modules ($MODULE@v$VERSION) ..."
    if ! (
        set -euo pipefail
        export GOFLAGS="-mod=mod -modcacherw -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
        meta="$(cd "$work" && go mod download -json "$MODULE@v$VERSION")"
        dir="$(json_field Dir <<<"$meta")"
        [[ -d "$dir" ]] || { echo "no module dir in: $meta"; exit 1; }
        # The module cache is read-only, and the embedded UI must exist to build.
        cp -R "$dir" "$work/src"
        chmod -R u+w "$work/src"
        cd "$work/src"
        mkdir -p ui/app/dist/elm ui/app/dist/mantine
        local page='<!doctype html><title>Alertmanager</title><p>Web UI not built (Linewatch test build from Go modules); the API is at /api/v2/.</p>'
        for sub in ui/app/dist ui/app/dist/elm ui/app/dist/mantine; do
            printf '%s\n' "$page" >"$sub/index.html"
        done
        cp ui/app/public/favicon.ico ui/app/dist/elm/favicon.ico 2>/dev/null || : >ui/app/dist/elm/favicon.ico
        go build -trimpath -o "$work/alertmanager" \
            -ldflags "-X github.com/prometheus/common/version.Version=$VERSION -X github.com/prometheus/common/version.Revision=go-module -X github.com/prometheus/common/version.Branch=v$VERSION" \
            ./cmd/alertmanager
    ) >"$log" 2>&1; then
        grep -v '^go: downloading' "$log" | tail -n 40 >&2
        die "building alertmanager $VERSION failed after $((SECONDS - began))s (log: $log)"
    fi
    mkdir -p "$CACHE/$VERSION/bin"
    cp "$work/alertmanager" "$BIN.tmp"
    mv "$BIN.tmp" "$BIN"
    "$BIN" --version 2>&1 | head -n 1
    echo "alertmanager $VERSION: built in $((SECONDS - began))s -> $BIN"
}

# --- start/stop ------------------------------------------------------------------

data_dir() {
    local dir="${1:-$CACHE/run}"
    mkdir -p "$dir"
    (cd "$dir" && pwd)
}

ready_ok() { # 200 from /-/ready?
    [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1/-/ready" 2>/dev/null)" == 200 ]]
}

running_pid() { pid_from_file "$1/server.pid"; }

cmd_start() {
    local dir pid port began=$SECONDS
    dir="$(data_dir "${1:-}")"
    [[ -x "$BIN" ]] || die "$BIN not found: run bash scripts/alertmanager.sh install"
    if pid="$(running_pid "$dir")"; then
        say "already running (pid $pid)"
        cat "$dir/url"
        return 0
    fi
    port="${ALERTMANAGER_PORT:-$(cat "$dir/http.port" 2>/dev/null || free_port)}"
    echo "$port" >"$dir/http.port"
    if [[ ! -f "$dir/alertmanager.yml" ]]; then
        sed -e "s|@WEBHOOK_URL@|${ALERTMANAGER_WEBHOOK_URL:-http://127.0.0.1:9/}|g" \
            -e "s|@GROUP_WAIT@|1s|g" -e "s|@GROUP_INTERVAL@|1s|g" \
            -e "s|@REPEAT_INTERVAL@|1h|g" "$TPL" >"$dir/alertmanager.yml"
    fi
    mkdir -p "$dir/data"
    echo "===== alertmanager.sh: starting at $(date -Is)" >>"$dir/server.log"
    nohup "$BIN" "--config.file=$dir/alertmanager.yml" "--storage.path=$dir/data" \
        "--web.listen-address=127.0.0.1:$port" "--cluster.listen-address=" \
        "--web.external-url=http://127.0.0.1:$port" \
        >>"$dir/server.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/server.pid"
    local url="http://127.0.0.1:$port" deadline=$((SECONDS + START_TIMEOUT))
    until ready_ok "$url"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$dir/server.log" >&2
            rm -f "$dir/server.pid"
            die "alertmanager exited during startup (see $dir/server.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$dir/server.log" >&2
            cmd_stop "$dir" >&2
            die "alertmanager not answering $url/-/ready after ${START_TIMEOUT}s"
        fi
        sleep 0.1
    done
    echo "$url" >"$dir/url"
    say "ready in $((SECONDS - began))s: pid $pid, data $dir"
    echo "$url"
}

cmd_stop() {
    local dir pid
    dir="$(data_dir "${1:-}")"
    if pid="$(running_pid "$dir")"; then
        stop_pid "$pid" "$STOP_TIMEOUT"
        echo "alertmanager.sh: stopped pid $pid"
    else
        echo "alertmanager.sh: not running"
    fi
    rm -f "$dir/server.pid" "$dir/url"
}

cmd_status() {
    local dir pid url
    dir="$(data_dir "${1:-}")"
    if ! pid="$(running_pid "$dir")"; then
        echo "alertmanager not running ($dir)"
        return 3
    fi
    url="$(cat "$dir/url" 2>/dev/null || true)"
    if [[ -n "$url" ]] && ready_ok "$url"; then
        echo "alertmanager running: pid $pid, $url, data $dir"
        return 0
    fi
    echo "alertmanager running but not ready: pid $pid, data $dir"
    return 2
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    status) cmd_status "${2:-}" ;;
    binary) echo "${ALERTMANAGER_BINARY:-$BIN}" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 64 ;;
esac
