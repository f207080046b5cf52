#!/usr/bin/env bash
# Measures the probe's own overhead: the same local KServe model server (tests/peers/iris_server.py,
# loopback), the same V1 request body, the same concurrency, driven once by wrk and once by
# `neuroscale probe`. Prints both figures and the probe/wrk throughput ratio. A benchmark, not a
# test: nothing here asserts a number.
#
# Usage: scripts/bench-probe.sh [seconds-for-wrk] [concurrency]
# Env:   NEUROSCALE_PYTHON  interpreter with kserve + scikit-learn (default: python3)
#        PROBE_BIN          the neuroscale binary (default: target/release/neuroscale, built here)
#        PROTOCOL           v1 (default) or v2
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-10}"
concurrency="${2:-4}"
python="${NEUROSCALE_PYTHON:-python3}"
protocol="${PROTOCOL:-v1}"
model=sklearn-iris
target_dir="${CARGO_TARGET_DIR:-target}"
probe="${PROBE_BIN:-$target_dir/release/neuroscale}"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
"$python" -c 'import kserve, sklearn' 2>/dev/null || {
  echo "$python cannot import kserve and sklearn: pip install -r .ci/requirements-peers.txt" >&2; exit 2; }
if [ -z "${PROBE_BIN:-}" ]; then
  cargo build --release --quiet --bin neuroscale
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$python" tests/peers/iris_server.py --model_name "$model" --http_port "$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 180); do
  curl -fs "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/v2/health/ready" >/dev/null || { echo "server not ready" >&2; exit 1; }

# The probe's load body (src/probe/load.rs: one iris row, KNOWN_INPUTS[0]).
if [ "$protocol" = v1 ]; then
  path="/v1/models/$model:predict"
  body='{"instances":[[6.8,2.8,4.8,1.4]]}'
else
  path="/v2/models/$model/infer"
  body='{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[6.8,2.8,4.8,1.4]}]}'
fi
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("WRK requests=%d errors=%d seconds=%.3f p50_us=%d p95_us=%d p99_us=%d\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
LUA

# Warm the server once so neither tool pays the first-request cost.
wrk -t1 -c"$concurrency" -d2s -s "$work/post.lua" "http://127.0.0.1:$port$path" >/dev/null

wrk_line="$(wrk -t1 -c"$concurrency" -d"${duration}s" -s "$work/post.lua" "http://127.0.0.1:$port$path" | grep '^WRK ')"
wrk_requests="$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$wrk_line")"
wrk_seconds="$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$wrk_line")"
wrk_rps="$(awk -v r="$wrk_requests" -v s="$wrk_seconds" 'BEGIN{printf "%.0f", r/s}')"
wrk_p50="$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$wrk_line")"
wrk_p95="$(sed -E 's/.*p95_us=([0-9]+).*/\1/' <<<"$wrk_line")"

# The probe sends as many requests as wrk managed, at the same concurrency.
"$probe" probe --url "http://127.0.0.1:$port" --model "$model" --protocol "$protocol" \
  --requests "$wrk_requests" --concurrency "$concurrency" --warmup 100 --no-verify --format json \
  >"$work/probe.json"
read -r probe_rps probe_p50 probe_p95 probe_errors < <("$python" -c '
import json,sys; r=json.load(open(sys.argv[1]))["load"]
print(round(r["throughput_rps"]), round(r["p50_ms"]*1000), round(r["p95_ms"]*1000), r["errors"])' "$work/probe.json")

echo "endpoint: KServe $("$python" -c 'import kserve; from importlib.metadata import version; print(version("kserve"))' 2>/dev/null || echo '?') iris server on loopback, $protocol, concurrency $concurrency, $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg)"
printf '%-16s %10s %10s %10s %8s\n' tool "req/s" "p50 µs" "p95 µs" errors
printf '%-16s %10s %10s %10s %8s\n' "wrk (${duration}s)" "$wrk_rps" "$wrk_p50" "$wrk_p95" "$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$wrk_line")"
printf '%-16s %10s %10s %10s %8s\n' "neuroscale probe" "$probe_rps" "$probe_p50" "$probe_p95" "$probe_errors"
awk -v p="$probe_rps" -v w="$wrk_rps" 'BEGIN{printf "probe/wrk throughput ratio: %.2f\n", p/w}'
