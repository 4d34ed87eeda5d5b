#!/bin/sh
# daemon_mapgrow.sh — daemons whose LMDB map starts at 64 KiB
# (CARDNODE_MAP_SIZE=65536) sync a city of about 4,400 entries.
#
#     city ══ school1 (empty: the bulk bootstrap; a reader tapped meanwhile)
#          ══ school2 (holds an entry of its own: entry by entry)
#
# The map must grow many times over, in the replica thread, while the
# reader's view, cardctl in other processes and the other daemon read the
# same files.  Both schools converge to the city's digest, keep up with
# more writes at the city, verify, and stop cleanly.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

BENCH=${BENCH_CITY:-$(dirname "$CARDCTL")/../tests/bench/bench_city}
[ -x "$BENCH" ] || fail "no bench_city binary at $BENCH"
"$BENCH" --students 2000 --ops 400 --no-sqlite --keep --dir "$T/gen" \
	--checks 100 >"$T/bench.out" 2>"$T/bench.err" ||
	{ cat "$T/bench.err"; fail "bench_city"; }
mv "$T/gen/city" "$T/city"
for s in school1 school2; do
	"$CARDCTL" -d "$T/$s" init --name "$s" --role school --scope 110105-0001 \
		--root-pub "$(cat "$T/city/root.pub")" --secret "$T/city/secret" \
		--root "$T/gen/root.key" >/dev/null 2>&1 || fail "$s init"
done
"$CARDCTL" -d "$T/school2" student put 99990001 --name 本校 \
	--school 110105-0001 >/dev/null || fail "school2's own entry"
total=$("$CARDCTL" --json -d "$T/city" digest | json_num entries /dev/stdin)
echo "city: $total entries"

node_conf city 0
node_start city
node_conf school1 none "$(node_addr city)"
cat >>"$T/school1.conf" <<EOF
[reader]
device = sim:$T/reader.sock
EOF
node_conf school2 none "$(node_addr city)"

say "two schools with a 64 KiB map bootstrap from the city"
export CARDNODE_MAP_SIZE=65536
node_start school1
node_start school2
# Taps answered from the reader's view while the map grows under it.
i=0
while [ $i -lt 20 ] && ! same_digest city school1 school2; do
	i=$((i + 1))
	set +e
	"$CARDCTL" -d "$T/school1" tap --uid "0400$(printf %04X $i)" >/dev/null 2>&1
	rc=$?
	set -e
	[ $rc -eq 0 ] || [ $rc -eq 3 ] || [ $rc -eq 4 ] ||
		fail "tap $i during the bootstrap: exit $rc"
	sleep 0.05
done
wait_until 120 same_digest city school1 school2 || fail "the schools did not catch up"
for s in school1 school2; do
	kill -0 "$(cat "$T/$s.pid")" || fail "$s died"
	size=$(stat -c %s "$T/$s/data.mdb")
	[ "$size" -gt 524288 ] || fail "$s: data.mdb is only $size bytes (the map never grew 8-fold)"
	echo "$s: caught up, data.mdb $size bytes (map started at 65536)"
done

say "more writes at the city, entry by entry"
unset CARDNODE_MAP_SIZE
j=0
while [ $j -lt 150 ]; do
	j=$((j + 1))
	"$CARDCTL" -d "$T/city" student put "8888$(printf %04d $j)" --name "新$j" \
		--school 110105-0001 >/dev/null || fail "city write $j"
done
wait_until 60 same_digest city school1 school2 || fail "the schools fell behind"
for s in school1 school2; do
	expect_exit 0 "$CARDCTL" -d "$T/$s" verify
	held=$("$CARDCTL" --json -d "$T/$s" digest | json_num entries /dev/stdin)
	echo "$s: $held entries, verify ok"
done
grep -E 'error|MDB_' "$T/school1.log" "$T/school2.log" &&
	fail "an error in a school's log"
node_stop school1
node_stop school2
node_stop city
echo "daemon_mapgrow: ok"
