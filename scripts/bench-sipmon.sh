#!/bin/sh
# bench-sipmon.sh: one run of `licbridge sipmon read` against tshark on the same
# capture, in the same run: SIP messages per second, peak RSS, and the ratio.
#
#   scripts/bench-sipmon.sh [CAPTURE]
#
# CAPTURE defaults to the 15,000-call fixture. Needs tshark and GNU time
# (/usr/bin/time). The message count is tshark's (lines of Call-IDs), checked
# against licbridge's sip_messages.
set -eu
cd "$(dirname "$0")/.."
fixtures=${LICBRIDGE_FIXTURES:-../shared/fixtures}
capture=${1:-$fixtures/sip/13_perf_15000_calls.pcap.gz}
[ -r "$capture" ] || { echo "bench-sipmon: $capture: not readable" >&2; exit 2; }
command -v tshark >/dev/null || { echo "bench-sipmon: tshark not installed" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-sipmon: /usr/bin/time (GNU time) not installed" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/licbridge" ./cmd/licbridge

# Warm the page cache so that neither run pays for the disk.
cat "$capture" >/dev/null

/usr/bin/time -f '%e %M %U %S' -o "$tmp/tshark.time" \
	tshark -r "$capture" -Y sip -T fields -e sip.Call-ID >"$tmp/tshark.out" 2>/dev/null
/usr/bin/time -f '%e %M %U %S' -o "$tmp/sipmon.time" \
	"$tmp/licbridge" sipmon read "$capture" >"$tmp/sipmon.txt" 2>/dev/null

msgs=$(wc -l <"$tmp/tshark.out")
ours=$(sed -n 's/^  SIP messages *\([0-9]*\) .*/\1/p' "$tmp/sipmon.txt")
read -r t_wall t_rss t_user t_sys <"$tmp/tshark.time"
read -r s_wall s_rss s_user s_sys <"$tmp/sipmon.time"

awk -v f="$capture" -v n="$msgs" -v ours="$ours" -v tw="$t_wall" -v tr="$t_rss" -v tc="$t_user $t_sys" \
	-v sw="$s_wall" -v sr="$s_rss" -v sc="$s_user $s_sys" 'BEGIN {
	split(tc, a, " "); split(sc, b, " "); tcpu = a[1] + a[2]; scpu = b[1] + b[2]
	printf "capture   %s (%d SIP messages by tshark, %d by licbridge)\n", f, n, ours
	printf "tshark    wall %6.2f s %9.0f msg/s   cpu %6.2f s %9.0f msg/s   peak RSS %6.1f MB\n", tw, n / tw, tcpu, n / tcpu, tr / 1024
	printf "licbridge wall %6.2f s %9.0f msg/s   cpu %6.2f s %9.0f msg/s   peak RSS %6.1f MB\n", sw, ours / sw, scpu, ours / scpu, sr / 1024
	printf "ratio     wall %.1fx, cpu %.1fx tshark (target 10x, goal 20x)\n", (ours / sw) / (n / tw), (ours / scpu) / (n / tcpu)
}'
