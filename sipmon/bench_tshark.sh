#!/bin/sh
# bench_tshark.sh: `licbridge sipmon read` against tshark on the same capture,
# in one run, alternating, best of RUNS each. It prints each tool's best wall
# and CPU (user+sys) seconds and the ratios tshark/licbridge: on a shared,
# busy machine the CPU ratio is the steadier one.
#
#   sipmon/bench_tshark.sh [LICBRIDGE] [CAPTURE] [RUNS]
#
# Defaults: ./licbridge, internal/testkit/fixtures/testdata/sip/13_perf_15000_calls.pcap.gz,
# 5. The licbridge side is `sipmon read --json` (and text mode as well);
# tshark's is `tshark -r FILE -Y sip -T fields -e sip.Call-ID`, the least it
# takes to find every SIP message.
set -eu
bin=${1:-./licbridge}
cap=${2:-internal/testkit/fixtures/testdata/sip/13_perf_15000_calls.pcap.gz}
runs=${3:-5}
command -v tshark >/dev/null || { echo "tshark not installed" >&2; exit 2; }
[ -x "$bin" ] || { echo "$bin: not an executable (go build ./cmd/licbridge)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure NAME CMD...: appends "wall cpu" of one run to $tmp/NAME.
measure() {
	name=$1
	shift
	/usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
	awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$tmp/t" >>"$tmp/$name"
}
i=0
while [ "$i" -lt "$runs" ]; do
	measure tshark tshark -r "$cap" -Y sip -T fields -e sip.Call-ID
	measure json "$bin" sipmon read --json "$cap"
	measure text "$bin" sipmon read "$cap"
	i=$((i + 1))
done
best() { sort -n -k"$2" "$tmp/$1" | head -1 | awk -v k="$2" '{ print $k }'; }
tw=$(best tshark 1)
tc=$(best tshark 2)
for mode in json text; do
	w=$(best "$mode" 1)
	c=$(best "$mode" 2)
	awk -v m="$mode" -v w="$w" -v c="$c" -v tw="$tw" -v tc="$tc" 'BEGIN {
		printf "sipmon read %-4s  wall %6.2fs cpu %6.2fs | tshark wall %6.2fs cpu %6.2fs | x_tshark wall %5.1f cpu %5.1f\n",
			m, w, c, tw, tc, (w > 0 ? tw / w : 0), (c > 0 ? tc / c : 0) }'
done
