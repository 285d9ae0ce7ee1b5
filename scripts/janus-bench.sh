#!/usr/bin/env bash
# Same-run SFU comparison (issue #3): Conclave's SFU, Janus 1.1.2's
# videoroom and the null relay floor, on the same workload, interleaved
# (Conclave, then Janus, RUNS times), then a table of medians.
#
# Why a network namespace: Janus's ICE (src/ice.c, janus_ice_setup_local)
# skips every IFF_LOOPBACK interface before it reads ice_enforce_list, so on
# loopback alone it gathers no candidate. This script makes a namespace of
# its own holding `lo` and a veth pair whose two ends both stay inside it
# (bench0 = 10.99.0.1/24 and its peer, which only gives bench0 a carrier).
# Nothing in the namespace reaches any other network; the kernel delivers
# traffic between local addresses through loopback, so Janus's 10.99.0.1
# costs what 127.0.0.1 costs. Both targets run in the same namespace:
# Conclave's server on 127.0.0.1, Janus's HTTP API on 127.0.0.1 and its
# media on 10.99.0.1 (`--janus-ip`).
#
# Needs root (ip netns), the `janus` package (apt-get install janus),
# python3, and a release build: cargo build --release -p conclave --locked.
#
# Usage: scripts/janus-bench.sh [--runs N] [--publishers P] [--subscribers S]
#            [--duration SECS] [--out DIR] [--bin PATH] [--only conclave|janus]
#            [-- extra `conclave bench sfu` options, e.g. --video-kbps 1500]
# Defaults: 3 runs, 4 publishers x 32 subscribers, 30 s, out
# ./janus-bench-out, bin $CARGO_TARGET_DIR/release/conclave (or target/).
# The namespace and anything still running in it go when the script ends,
# however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
publishers=4
subscribers=32
duration=30
out=janus-bench-out
bin="${CARGO_TARGET_DIR:-target}/release/conclave"
only=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --publishers) publishers="$2"; shift 2 ;;
    --subscribers) subscribers="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "janus-bench.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done
for n in "$runs" "$publishers" "$subscribers" "$duration"; do
    case "$n" in ''|*[!0-9]*) echo "janus-bench.sh: --runs, --publishers, --subscribers and --duration take numbers" >&2; exit 2 ;; esac
done
[ -x "$bin" ] || { echo "janus-bench.sh: no binary at $bin; run cargo build --release -p conclave --locked" >&2; exit 1; }
command -v janus >/dev/null || { echo "janus-bench.sh: janus is not installed (apt-get install -y janus)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "janus-bench.sh: needs root for ip netns" >&2; exit 1; }

ns="conclave-bench-$$"
janus_ip=10.99.0.1
bench_pid=""
cleanup() {
    if [ -n "$bench_pid" ]; then kill "$bench_pid" 2>/dev/null || true; fi
    # Whatever the bench started in the namespace (a Janus or a conclave
    # serve left behind by an interrupted run), by process id.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add bench0 type veth peer name bench1
ip -n "$ns" addr add "$janus_ip/24" dev bench0
ip -n "$ns" link set bench1 up
ip -n "$ns" link set bench0 up

mkdir -p "$out"
echo "janus-bench.sh: namespace $ns, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" >&2
targets=(conclave janus)
[ -n "$only" ] && targets=("$only")
for run in $(seq 1 "$runs"); do
    for target in "${targets[@]}"; do
        json="$out/run$run-$target.json"
        opts=(bench sfu --target "$target" --publishers "$publishers" --subscribers "$subscribers" --duration "$duration" --json "$json")
        [ "$target" = janus ] && opts+=(--janus-ip "$janus_ip")
        echo "janus-bench.sh: run $run, $target" >&2
        ip netns exec "$ns" "$bin" "${opts[@]}" "${extra[@]}" >"$out/run$run-$target.txt" 2>&1 &
        bench_pid=$!
        status=0
        wait "$bench_pid" || status=$?
        bench_pid=""
        cat "$out/run$run-$target.txt"
        [ "$status" = 0 ] || echo "janus-bench.sh: run $run $target exited $status (Janus's log: $json.janus.log)" >&2
    done
done

python3 - "$out" <<'EOF'
import glob, json, statistics, sys

out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(f"{out}/run*-*.json")):
    with open(path) as f:
        r = json.load(f)
    rows.setdefault(r["target"], []).append(r)

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)

def per_cpu_s(r):
    cpu = r.get("server_cpu_seconds")
    return r["forwarded_packets"] / cpu if cpu else None

def relay(r, key):
    return (r.get("null_relay") or {}).get(key)

fields = [
    ("forwarded packets/s", lambda r: r["forwarded_packets_per_sec"], ",.0f"),
    ("server CPU s", lambda r: r.get("server_cpu_seconds"), ".2f"),
    ("CPU us per forwarded packet", lambda r: r.get("cpu_us_per_forwarded_packet"), ".2f"),
    ("forwarded packets per CPU-second", per_cpu_s, ",.0f"),
    ("latency p50 ms", lambda r: r.get("p50_latency_ms"), ".2f"),
    ("latency p99 ms", lambda r: r.get("p99_latency_ms"), ".2f"),
    ("loss ratio", lambda r: r["loss_ratio"], ".5f"),
    ("join to first frame p50 ms", lambda r: r.get("join_to_first_frame_ms_p50"), ".1f"),
    ("join to first frame p95 ms", lambda r: r.get("join_to_first_frame_ms_p95"), ".1f"),
    ("server RSS per participant KiB",
     lambda r: r["server_rss_bytes_per_participant"] / 1024 if r.get("server_rss_bytes_per_participant") else None, ".1f"),
    ("intact streams", lambda r: r["intact_streams"] / r["expected_streams"] if r["expected_streams"] else None, ".3f"),
    ("null relay: CPU us per forwarded packet", lambda r: relay(r, "cpu_us_per_forwarded_packet"), ".2f"),
]
targets = [t for t in ("conclave", "janus") if t in rows]
print()
print("| figure | " + " | ".join(f"{t} median (runs)" for t in targets) + " |")
print("|---" * (len(targets) + 1) + "|")
for name, get, spec in fields:
    cells = []
    for t in targets:
        values = [get(r) for r in rows[t]]
        runs = ", ".join(fmt(v, spec) for v in values)
        cells.append(f"**{fmt(med(values), spec)}** ({runs})")
    print(f"| {name} | " + " | ".join(cells) + " |")
if "conclave" in rows and "janus" in rows:
    c = med([per_cpu_s(r) for r in rows["conclave"]])
    j = med([per_cpu_s(r) for r in rows["janus"]])
    if c and j:
        print(f"\nConclave / Janus, forwarded packets per CPU-second (medians): {c / j:.2f}x")
EOF
