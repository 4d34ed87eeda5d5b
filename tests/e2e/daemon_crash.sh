#!/bin/sh
# daemon_crash.sh — kill -9 in the middle of a large sync, 20 times.
#
# A city of 150,000 students (the benchmark's generator: about 315,000
# entries) and a fresh school node that bootstraps from it over loopback.
# Twenty times, at a random moment, one of the two daemons is killed with
# SIGKILL (the school on odd rounds, the city on even ones) and started
# again.  After every kill the store must open and verify (every entry
# chained and signed, nothing half-applied, no gap), and the school must
# hold at least what it held before (nothing committed is lost).  At the
# end the sync completes: one digest.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

BENCH=${BENCH_CITY:-$(dirname "$CARDCTL")/../tests/bench/bench_city}
[ -x "$BENCH" ] || fail "no bench_city binary at $BENCH"
"$BENCH" --students 150000 --ops 15000 --no-sqlite --keep --dir "$T/gen" \
	--checks 1000 >"$T/bench.out" 2>"$T/bench.err" ||
	{ cat "$T/bench.err"; fail "bench_city"; }
mv "$T/gen/city" "$T/city"
"$CARDCTL" -d "$T/school" init --name school --role school --scope 110105-0001 \
	--root-pub "$(cat "$T/city/root.pub")" --secret "$T/city/secret" \
	--root "$T/gen/root.key" >/dev/null 2>&1 || fail "school init"
total=$("$CARDCTL" --json -d "$T/city" digest | json_num entries /dev/stdin)
echo "city: $total entries"

node_conf city 0
node_start city
CITY_PORT=$(node_addr city | sed 's/.*://')
node_conf school none "127.0.0.1:$CITY_PORT"

held() {
	"$CARDCTL" --json -d "$T/school" digest | json_num entries /dev/stdin
}

prev=0
round=0
school_up=no
while [ $round -lt 20 ]; do
	round=$((round + 1))
	[ $school_up = yes ] || node_start school
	school_up=yes
	delay=$(awk -v s="$$$round" 'BEGIN { srand(s); printf "%.3f", 0.03 + rand() * 0.32 }')
	sleep "$delay"
	if [ $((round % 2)) -eq 1 ]; then
		victim=school
		school_up=no
	else
		victim=city
	fi
	node_kill "$victim"
	expect_exit 0 "$CARDCTL" -d "$T/$victim" verify
	now=$(held)
	[ "$now" -ge "$prev" ] || fail "round $round: the school held $prev entries, now $now"
	echo "round $round: killed the $victim after ${delay}s; school holds $now entries; verify ok"
	prev=$now
	if [ $victim = city ]; then
		node_conf city "$CITY_PORT"
		node_start city
	fi
done

say "both running: the sync completes"
[ $school_up = yes ] || node_start school
wait_until 120 same_digest city school || fail "the school did not catch up"
expect_exit 0 "$CARDCTL" -d "$T/school" verify
echo "school caught up: $(held) entries, digest $(digest_of school | cut -c 1-16)…"
node_stop school
node_stop city
echo "daemon_crash: ok"
