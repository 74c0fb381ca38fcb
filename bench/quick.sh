#!/usr/bin/env bash
# Quick foundation benchmark: GET /api/v1/users/me and a plain /hello route at
# 64 connections, 1 and 2 workers, median of 3 wrk runs each, in one run so the
# figures share the machine's conditions. Usage: bench/quick.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
PY=.venv/bin/python
WORK=$(mktemp -d)
REDIS_PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize yes --dir "$WORK" --pidfile "$WORK/redis.pid" >/dev/null
trap 'kill $(cat $WORK/redis.pid) 2>/dev/null; [ -n "${SERVER:-}" ] && kill $SERVER 2>/dev/null; rm -rf $WORK' EXIT
export PYTHONPATH=$PWD APP_ENV=production SECRET_KEY=$(openssl rand -hex 32) PORT \
       DATABASE_URL="sqlite+aiosqlite:///$WORK/bench.db" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" BCRYPT_ROUNDS=4
$PY -m alembic upgrade head 2>/dev/null
URL=http://127.0.0.1:$PORT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rps() { wrk -t2 -c64 -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {print $2}'; }

printf '%-8s %-20s %12s\n' workers path "req/s (median of 3)"
for workers in 1 2; do
  WORKERS=$workers $PY -m hypercorn --config python:config.hypercorn bench.hello_app:app 2>/dev/null &
  SERVER=$!
  until curl -sf "$URL/healthz" >/dev/null; do sleep 0.2; done
  curl -sf "$URL/api/v1/auth/register" -H 'Content-Type: application/json' -d '{"username":"bench","password":"benchmark-pw"}' >/dev/null || true
  TOKEN=$(curl -sf "$URL/api/v1/auth/login" -H 'Content-Type: application/json' -d '{"username":"bench","password":"benchmark-pw"}' | $PY -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  wrk -t2 -c64 -d3s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/users/me" >/dev/null  # warm up
  for path in /api/v1/users/me /hello; do
    runs=$(for _ in 1 2 3; do rps -H "Authorization: Bearer $TOKEN" "$URL$path"; done)
    printf '%-8s %-20s %12s   (runs: %s)\n' "$workers" "$path" "$(echo "$runs" | median)" "$(echo $runs)"
  done
  kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=
done
