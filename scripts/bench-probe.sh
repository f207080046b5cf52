#!/usr/bin/env bash
# Benchmarks `neuroscale probe` against real peers on the same local KServe model server
# (tests/peers/iris_server.py, loopback) and the same one-row request body:
#   1. open loop: `oha -q RATE -z DURATION --latency-correction` (latency from intended send
#      times, as the probe measures it) then `neuroscale probe --rate RATE --duration DURATION`;
#      prints both p50/p99 and the probe/oha ratios;
#   2. closed-loop throughput ceiling: `wrk -c CONCURRENCY` then `neuroscale probe --closed
#      --concurrency CONCURRENCY` with as many requests as wrk managed; prints the probe/wrk ratio.
# A benchmark, not a test: nothing here asserts a number, and nothing is installed.
#
# Usage: scripts/bench-probe.sh [seconds] [concurrency] [rate]
# Env:   NEUROSCALE_PYTHON  interpreter with kserve + scikit-learn (default: python3)
#        PROBE_BIN          the neuroscale binary (default: target/release/neuroscale, built here)
#        PROTOCOL           v1 (default) or v2
#        OHA, WRK           the peer binaries (default: oha and wrk on PATH; `cargo install oha
#                           --locked`, `apt-get install wrk`)
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-10}"
concurrency="${2:-4}"
rate="${3:-200}"
python="${NEUROSCALE_PYTHON:-python3}"
protocol="${PROTOCOL:-v1}"
oha="${OHA:-oha}"
wrk="${WRK:-wrk}"
model=sklearn-iris
target_dir="${CARGO_TARGET_DIR:-target}"
probe="${PROBE_BIN:-$target_dir/release/neuroscale}"
# The open loop's in-flight cap, the same for both tools (oha's -c bounds its in-flight requests).
max_in_flight=64

command -v "$wrk" >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
command -v "$oha" >/dev/null || { echo "oha is missing: cargo install oha --locked" >&2; exit 2; }
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
url="http://127.0.0.1:$port$path"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("WRK requests=%d errors=%d seconds=%.3f p50_us=%d p99_us=%d\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50), latency:percentile(99)))
end
LUA

# Warm the server once so neither tool pays the first-request cost.
"$wrk" -t1 -c"$concurrency" -d2s -s "$work/post.lua" "$url" >/dev/null

echo "endpoint: KServe $("$python" -c 'from importlib.metadata import version; print(version("kserve"))' 2>/dev/null || echo '?') iris server on loopback, $protocol; $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg); probe $("$probe" --version 2>/dev/null || echo "$probe"); $("$oha" --version); $("$wrk" -v 2>&1 | head -1 | cut -d' ' -f1-2)"

# 1. Open loop at the same rate and duration, latency from intended send times in both.
"$oha" -z "${duration}s" -q "$rate" --latency-correction -c "$max_in_flight" --no-tui \
  --output-format json -m POST -H 'Content-Type: application/json' -d "$body" "$url" >"$work/oha.json"
"$probe" probe --url "http://127.0.0.1:$port" --model "$model" --protocol "$protocol" \
  --rate "$rate" --duration "${duration}s" --max-in-flight "$max_in_flight" --warmup 0 \
  --no-verify --format json >"$work/open.json" || true
read -r oha_p50 oha_p99 oha_rps oha_ok probe_p50 probe_p99 probe_rps probe_errors probe_valid < <("$python" -c '
import json, sys
oha = json.load(open(sys.argv[1]))
probe = json.load(open(sys.argv[2]))["load"]
pct = {p["name"]: p["ms"] for p in probe["percentiles"]}
lat = oha["latencyPercentiles"]
print(round(lat["p50"] * 1e6), round(lat["p99"] * 1e6), round(oha["summary"]["requestsPerSec"], 1),
      oha["summary"]["successRate"], round(pct["p50"] * 1000), round(pct["p99"] * 1000),
      round(probe["achieved_rps"], 1), probe["errors"], "valid" if not probe["invalid"] else "INVALID")
' "$work/oha.json" "$work/open.json")
echo
echo "open loop: $rate req/s for ${duration}s, at most $max_in_flight in flight, latency from intended send times"
printf '%-24s %10s %10s %10s %10s\n' tool "req/s" "p50 µs" "p99 µs" note
printf '%-24s %10s %10s %10s %10s\n' "oha --latency-correction" "$oha_rps" "$oha_p50" "$oha_p99" "ok=$oha_ok"
printf '%-24s %10s %10s %10s %10s\n' "neuroscale probe" "$probe_rps" "$probe_p50" "$probe_p99" "$probe_valid,err=$probe_errors"
awk -v a="$probe_p50" -v b="$oha_p50" -v c="$probe_p99" -v d="$oha_p99" \
  'BEGIN{printf "probe/oha: p50 %.2f, p99 %.2f\n", a/b, c/d}'

# 2. Closed-loop throughput ceiling at the same concurrency.
wrk_line="$("$wrk" -t1 -c"$concurrency" -d"${duration}s" -s "$work/post.lua" "$url" | grep '^WRK ')"
wrk_requests="$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$wrk_line")"
wrk_seconds="$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$wrk_line")"
wrk_rps="$(awk -v r="$wrk_requests" -v s="$wrk_seconds" 'BEGIN{printf "%.0f", r/s}')"
"$probe" probe --url "http://127.0.0.1:$port" --model "$model" --protocol "$protocol" --closed \
  --requests "$wrk_requests" --concurrency "$concurrency" --warmup 100 --no-verify --format json \
  >"$work/closed.json" || true
read -r closed_rps closed_p50 closed_p99 closed_errors < <("$python" -c '
import json, sys
r = json.load(open(sys.argv[1]))["load"]
pct = {p["name"]: p["ms"] for p in r["percentiles"]}
print(round(r["achieved_rps"]), round(pct["p50"] * 1000), round(pct["p99"] * 1000), r["errors"])
' "$work/closed.json")
echo
echo "closed loop (throughput ceiling): $concurrency in flight, wrk for ${duration}s, the probe for as many requests"
printf '%-24s %10s %10s %10s %10s\n' tool "req/s" "p50 µs" "p99 µs" errors
printf '%-24s %10s %10s %10s %10s\n' "wrk" "$wrk_rps" "$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$wrk_line")" "$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$wrk_line")" "$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$wrk_line")"
printf '%-24s %10s %10s %10s %10s\n' "neuroscale probe --closed" "$closed_rps" "$closed_p50" "$closed_p99" "$closed_errors"
awk -v p="$closed_rps" -v w="$wrk_rps" 'BEGIN{printf "probe/wrk throughput ratio: %.2f\n", p/w}'
