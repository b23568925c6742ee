# Shared by scripts/{kafka,influxdb,alertmanager}.sh: messages, ports, pid files and the
# SIGTERM-then-SIGKILL stop. Source it after setting SCRIPT (the caller's name) and PYTHON.

say() { echo "$SCRIPT: $*" >&2; }
die() { say "error: $*"; exit 1; }

free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pid_from_file() { # pid_from_file FILE: the pid it names, if that process is alive
    local pid
    [[ -f "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

stop_pid() { # stop_pid PID TIMEOUT_S: SIGTERM, wait up to TIMEOUT_S, then SIGKILL
    local pid="$1" deadline=$((SECONDS + $2))
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "no exit ${2}s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
}
