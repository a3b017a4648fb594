#!/usr/bin/env bash
# Load on `lofigen radio`, loopback only, bounded: N listeners (default 100) read /stream.mp3
# for S seconds (default 60), each one's rate is compared with real time (16 000 B/s at
# 128 kbit/s); then C connect/disconnect cycles (default 1000), with the server's thread count
# and RSS before and after. Prints one line per measure (BENCHMARKS.md records them).
#   bash scripts/bench-radio.sh [listeners] [seconds] [cycles]
set -euo pipefail
listeners=${1:-100}; seconds=${2:-60}; cycles=${3:-1000}
bin=${LOFIGEN:-target/release/lofigen}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" radio --port 0 > "$dir/addr" 2> "$dir/log" &
pid=$!
for _ in $(seq 600); do grep -q listening "$dir/addr" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$dir/addr")
[ -n "$url" ] || { cat "$dir/log"; exit 1; }
sleep 3
threads() { awk '/^Threads:/ {print $2}' "/proc/$pid/status"; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
echo "server: $url (pid $pid), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# Listeners: curl ends each after exactly $seconds; the first second is the start burst.
for i in $(seq "$listeners"); do
  curl -s --max-time "$seconds" -o "$dir/l$i.mp3" "${url}stream.mp3" &
done
cpu0=$(awk '{print $14+$15}' "/proc/$pid/stat")
sleep "$seconds"; wait_for=$((seconds + 5))
for _ in $(seq "$wait_for"); do [ "$(jobs -rp | grep -vc "^$pid$")" -le 1 ] && break; sleep 1; done
cpu1=$(awk '{print $14+$15}' "/proc/$pid/stat")
status=$(curl -s "${url}status")
sizes=$(for i in $(seq "$listeners"); do stat -c %s "$dir/l$i.mp3"; done | sort -n)
min=$(echo "$sizes" | head -1); max=$(echo "$sizes" | tail -1)
python3 - "$listeners" "$seconds" "$min" "$max" "$cpu0" "$cpu1" "$status" <<'PY'
import json, sys
n, s, lo, hi, c0, c1, status = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), json.loads(sys.argv[7])
# Bytes beyond the 1 s start burst, over the listening time.
rate = lambda b: (b - 16000) / s / 16000
print(f"{n} listeners x {s:.0f} s: slowest {rate(lo):.3f}x real time, fastest {rate(hi):.3f}x; "
      f"server CPU {(c1 - c0) / 100 / s * 100:.0f} % of one core; generator {status['realtime_factor']:.2f}x real time; "
      f"underruns {status['underruns']}, dropped {status['dropped_slow_listeners']}")
PY

t0=$(threads); r0=$(rss)
start=$(date +%s.%N)
for _ in $(seq "$cycles"); do
  curl -s --max-time 0.2 -o /dev/null "${url}stream.mp3" || true
done
end=$(date +%s.%N)
sleep 2
echo "$cycles connect/disconnect cycles in $(echo "$end - $start" | bc) s: threads $t0 -> $(threads), RSS $r0 -> $(rss) KiB; listeners now $(curl -s "${url}status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["listeners"])')"
kill -TERM "$pid"; wait "$pid"; echo "SIGTERM: exit $?"
