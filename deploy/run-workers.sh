#!/usr/bin/env bash
# Run N webhook workers of the bot (Procfile-style, without systemd or containers):
#
#   deploy/run-workers.sh [N] [FIRST_PORT]      (defaults: 3 workers from port 8080, every 2nd)
#
# Settings come from the environment or .env (BOT_TOKEN, WEBHOOK_URL, WEBHOOK_SECRET,
# DATABASE_URL=postgresql+asyncpg://..., DATABASE_POOL_SIZE, ...). Worker i listens on
# 127.0.0.1:FIRST_PORT+2i (nginx's upstream) and answers /healthz and /readyz there; the runner
# waits until each is ready, starts again one that dies, and on SIGINT/SIGTERM stops them all
# (each finishes the updates it holds). PYTHON overrides the interpreter (.venv/bin/python).
set -euo pipefail

workers=${1:-3}
first_port=${2:-8080}
python=${PYTHON:-.venv/bin/python}
declare -A pids=()
stopping=0

port_of() { echo $((first_port + 2 * $1)); }

start() {
    local i=$1 port
    port=$(port_of "$i")
    WEBHOOK_LISTEN="127.0.0.1:$port" DASHBOARD_LISTEN="" "$python" -m bot run &
    pids[$i]=$!
    echo "worker $i: pid ${pids[$i]}, port $port"
}

ready() {
    "$python" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

stop_all() {
    stopping=1
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
    exit 0
}
trap stop_all INT TERM

for ((i = 0; i < workers; i++)); do start "$i"; done
for ((i = 0; i < workers; i++)); do
    for _ in $(seq 1 120); do
        if ready "$(port_of "$i")"; then echo "worker $i: ready"; break; fi
        sleep 0.5
    done
done

# Start again any worker that died (a crash, or kill -9), as systemd's Restart=always would.
while ((stopping == 0)); do
    sleep 1
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "worker $i (pid ${pids[$i]}) died: starting it again"
            start "$i"
        fi
    done
done
