#!/bin/sh
# daemon_topology.sh — four cardnode daemons on 127.0.0.1:
#
#     city ── district ─┬─ school A
#                       └─ school B
#
# Schools A and B are never connected to each other.  A loss reported at
# school A must be visible at school B within 1 s (pushed through the
# district: relay, no polling).  Also: the city's watermark reaches the
# schools, `cardctl status` shows the peers, SIGHUP re-reads the peers,
# `cardctl sync` works without a daemon, and SIGTERM stops every daemon
# cleanly.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

deploy
node_init city city 110000
node_init district district 110101
node_init school_a school 110101-0001
node_init school_b school 110101-0002

node_conf city 0
node_start city
node_conf district 0 "$(node_addr city)"
node_start district
node_conf school_a 0 "$(node_addr district)"
node_start school_a
node_conf school_b 0 "$(node_addr district)"
node_start school_b

say "the city issues a card for a school A student"
export CARDNODE_ACTOR=e2e
"$CARDCTL" -d "$T/city" student put 11010100000001 --name 李雷 \
	--school 110101-0001 >/dev/null
"$CARDCTL" -d "$T/city" card issue 3100000001 --student 11010100000001 \
	--uid 04A1B2C3 >/dev/null
wait_until 10 "$CARDCTL" -d "$T/school_b" check --uid 04A1B2C3 ||
	fail "the card never reached school B"
wait_until 10 same_digest city district school_a school_b ||
	fail "the four replicas did not converge"
echo "all four replicas hold the card"

say "school A reports the card lost; school B sees it within 1 s"
t0=$(now_ms)
"$CARDCTL" -d "$T/school_a" card lost 3100000001 >/dev/null
while :; do
	set +e
	"$CARDCTL" -d "$T/school_b" check --uid 04A1B2C3 >"$OUT" 2>&1
	rc=$?
	set -e
	[ $rc -eq 4 ] && break
	[ $(( $(now_ms) - t0 )) -lt 5000 ] || fail "school B never saw the loss"
	sleep 0.02
done
dt=$(( $(now_ms) - t0 ))
assert_grep '^lost' "$OUT" "school B's decision"
echo "school B: lost, ${dt} ms after school A wrote it"
[ "$dt" -le 1000 ] || fail "the loss took ${dt} ms to reach school B (limit 1000)"
grep -q "$(node_addr school_a)" "$T/school_b.log" &&
	fail "school B connected to school A directly"

say "identity review across the daemons: submitted at A, approved by the district"
"$CARDCTL" -d "$T/school_a" auth submit --person student --name 韩梅梅 \
	--school 110101-0001 --grade 3 --class 3-1 --enrolled 2022 \
	--guardian 13800000009 --id-number 11010120170305002X >"$OUT"
rec=$(sed -n 's/^  record \([0-9]*\) .*/\1/p' "$OUT")
[ -n "$rec" ] || fail "no record number from auth submit"
wait_until 10 "$CARDCTL" -d "$T/district" auth show "$rec" ||
	fail "the submission never reached the district"
"$CARDCTL" -d "$T/district" auth approve "$rec" --as admin >/dev/null
wait_until 10 sh -c "'$CARDCTL' -d '$T/school_b' --json auth show '$rec' |
	grep -q '\"state\": \"approved\"'" ||
	fail "school B never saw the approval"
echo "school B: record $rec approved, through the district"

say "status: peers, the city watermark"
wait_until 10 same_digest city district school_a school_b || fail "no convergence"
wait_until 5 sh -c "[ \$('$CARDCTL' -d '$T/district' --json status |
	grep -c '\"state\": \"connected\"') -eq 3 ]" ||
	fail "the district's status does not show 3 connected peers"
expect_exit 0 "$CARDCTL" -d "$T/district" --json status
json_ok "$OUT"
assert_grep '"running": true' "$OUT" "district daemon"
assert_grep '"state": "connected"' "$OUT" "district's peers"
n=$(grep -c '"state": "connected"' "$OUT")
assert_eq 3 "$n" "connected peers of the district (city out, two schools in)"
expect_exit 0 "$CARDCTL" -d "$T/school_b" --json status
age=$(json_num watermark_age_s "$OUT")
[ -n "$age" ] && [ "$age" -le 10 ] || fail "school B's watermark age '$age'"
assert_grep '"watermark_stale": false' "$OUT" "watermark freshness"
expect_exit 0 "$CARDCTL" -d "$T/school_b" status
assert_grep '^city watermark +[0-9]+ s old$' "$OUT" "text status"
assert_grep 'connected +district' "$OUT" "text status peer line"
echo "school B: watermark ${age} s old, district connected"

say "SIGHUP: school B also dials the city"
node_conf school_b 0 "$(node_addr district)" "$(node_addr city)"
kill -HUP "$(cat "$T/school_b.pid")"
wait_until 10 grep -q "SIGHUP: configuration reloaded (2 peers)" "$T/school_b.log" ||
	fail "school B did not reload"
wait_until 10 sh -c "[ \$('$CARDCTL' -d '$T/school_b' --json status |
	grep -c '\"state\": \"connected\"') -eq 2 ]" ||
	fail "school B is not connected to both after SIGHUP"
echo "school B: connected to the district and the city"

say "the city and the district list each other: one connection"
node_conf city "$(node_addr city | sed 's/.*://')" "$(node_addr district)"
kill -HUP "$(cat "$T/city.pid")"
wait_until 10 grep -q "SIGHUP: configuration reloaded (1 peers)" "$T/city.log" ||
	fail "the city did not reload"
wait_until 10 sh -c "'$CARDCTL' -d '$T/city' --json status | grep -q '\"state\": \"connected\"'" ||
	fail "the city's district peer is not connected"
sleep 3
n=$(grep -c "connected (" "$T/city.log")
[ "$n" -le 3 ] || fail "the city connected $n times: redialling a covered peer"
expect_exit 0 "$CARDCTL" -d "$T/district" --json status
assert_eq 3 "$(grep -c '"state": "connected"' "$OUT")" "the district's peers: one line per node"
echo "city and district: one connection, shown as connected on both sides"

say "a bad peer on SIGHUP changes nothing"
cp "$T/school_b.conf" "$T/school_b.conf.good"
printf 'peer = not-an-address\n' >>"$T/school_b.conf"
kill -HUP "$(cat "$T/school_b.pid")"
wait_until 10 grep -q "SIGHUP: configuration not reloaded" "$T/school_b.log" ||
	fail "school B accepted a bad configuration"
mv "$T/school_b.conf.good" "$T/school_b.conf"

say "cardctl sync: a node without a daemon catches up in one go"
node_init service service 110101
"$CARDCTL" -d "$T/service" card found 3100000001 >/dev/null 2>&1 &&
	fail "the service node wrote about a card it cannot know yet"
expect_exit 0 "$CARDCTL" -d "$T/service" --json sync "$(node_addr district)"
json_ok "$OUT"
assert_grep '"synced": true' "$OUT" "sync result"
assert_eq "$(digest_of district)" "$(digest_of service)" "digest after cardctl sync"
"$CARDCTL" -d "$T/service" card found 3100000001 >/dev/null
expect_exit 0 "$CARDCTL" -d "$T/service" sync "$(node_addr district)"
assert_grep '^synced with .*: sent 1 entries' "$OUT" "the second sync sends the one new entry"
wait_until 5 "$CARDCTL" -d "$T/school_a" check --uid 04A1B2C3 ||
	fail "the service node's entry did not spread"
expect_exit 1 "$CARDCTL" -d "$T/service" sync 127.0.0.1:1
assert_grep 'connect' "$ERR" "the reason of a failed sync"
expect_exit 2 "$CARDCTL" -d "$T/service" sync nohostport
echo "cardctl sync: caught up, pushed one entry, refused bad targets"

say "SIGTERM: every daemon stops cleanly"
for n in school_a school_b district city; do
	node_stop "$n"
done
expect_exit 0 "$CARDCTL" -d "$T/school_b" status
assert_grep '^daemon +not running' "$OUT" "status after the stop"
for n in city district school_a school_b service; do
	expect_exit 0 "$CARDCTL" -d "$T/$n" verify
done
echo "daemon_topology: ok"
