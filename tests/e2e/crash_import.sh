#!/bin/sh
# crash_import.sh — kill -9 in the middle of an import, again and again.
#
# A synthetic city of 100,000 students (the benchmark's generator, 210,000
# entries: three import transactions) is exported to a bundle.  Eight
# times, a fresh replica starts importing it and is killed with SIGKILL at
# a random moment.  Each time
# the store must open, `verify` must pass (every stored entry chained and
# signed, every state equal to the fold of its entries: nothing
# half-applied), and importing again must finish the job with the city's
# digest.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
cd "$T"

BENCH=${BENCH_CITY:-$(dirname "$CARDCTL")/../tests/bench/bench_city}
[ -x "$BENCH" ] || fail "no bench_city binary at $BENCH"
# The real clock: the generator's entries carry today's time.
unset CARDNODE_NOW_MS

"$BENCH" --students 100000 --ops 10000 --no-sqlite --keep --dir gen \
	--checks 1000 >bench.out 2>bench.err || { cat bench.err; fail "bench_city"; }
city_digest=$("$CARDCTL" -d gen/city digest | head -n 1)
root=$(cat gen/city/root.pub)

i=0
while [ $i -lt 8 ]; do
	i=$((i + 1))
	d=node$i
	"$CARDCTL" -d "$d" init --name "n$i" --role school --scope 110105-0001 \
		--root-pub "$root" --secret gen/city/secret >/dev/null
	"$CARDCTL" -d "$d" import gen/city.bundle >/dev/null 2>&1 &
	pid=$!
	delay=$(awk -v s="$$$i" 'BEGIN { srand(s); printf "%.3f", 0.05 + rand() * 1.1 }')
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	expect_exit 0 "$CARDCTL" -d "$d" verify
	held=$("$CARDCTL" --json -d "$d" digest | json_num entries /dev/stdin)
	echo "run $i: killed after ${delay}s with $held entries held; verify ok"
	# Import again: what is held counts as duplicate, the rest applies.
	set +e
	"$CARDCTL" -d "$d" import gen/city.bundle >/dev/null 2>import.err
	rc=$?
	set -e
	[ $rc -eq 0 ] || { cat import.err; fail "second import exited $rc"; }
	got=$("$CARDCTL" -d "$d" digest | head -n 1)
	assert_eq "$city_digest" "$got" "digest after the second import (run $i)"
	rm -rf "$d"
done
echo "crash_import: ok"
