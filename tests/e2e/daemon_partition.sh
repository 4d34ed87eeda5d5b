#!/bin/sh
# daemon_partition.sh — a network partition and its healing.
#
#     school A ── city ══ proxy ══ district ── school B
#
# The proxy cuts the city off from the district for a while.  Both halves
# keep working offline: taps are answered from each replica, a card is
# frozen on one side and reported lost on the other, validations are done
# on both sides, and a student's name is changed on both sides.  After
# the link heals, all four converge, and the rules hold: both denials stand
# (a loss and a freeze do not cancel each other), validity only grows, and
# the later name wins (LWW by hybrid logical clock).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"
WATERMARK_MAX_AGE=2 # the far half notices the partition in its log

deploy
node_init city city 110000
node_init district district 110101
node_init school_a school 110101-0001
node_init school_b school 110101-0002
node_conf city 0
node_start city
proxy_start link "$(node_addr city)" --drop 1 --cut 1
kill -USR1 "$(cat "$T/link.pid")" # healthy until the partition
node_conf district 0 "$(proxy_addr link)"
node_start district
node_conf school_a none "$(node_addr city)"
node_start school_a
node_conf school_b none "$(node_addr district)"
node_start school_b
export CARDNODE_ACTOR=e2e

say "a student of school B with two cards, known everywhere"
"$CARDCTL" -d "$T/city" student put 11010200000001 --name 初名 \
	--school 110101-0002 >/dev/null
"$CARDCTL" -d "$T/city" card issue 3200000001 --student 11010200000001 \
	--uid 04B00001 >/dev/null
"$CARDCTL" -d "$T/city" student put 11010200000002 --name 同学 \
	--school 110101-0002 >/dev/null
"$CARDCTL" -d "$T/city" card issue 3200000002 --student 11010200000002 \
	--uid 04B00002 >/dev/null
wait_until 10 same_digest city district school_a school_b || fail "no convergence"
expect_exit 0 "$CARDCTL" -d "$T/school_a" check --uid 04B00001
echo "all four hold both cards; card 3200000001 accepted at school A"

say "partition: the city is cut off from the district"
kill -USR2 "$(cat "$T/link.pid")"
wait_link_down district
echo "district: the city link is down"

# City half: freeze card 1, validate card 2, rename the student.
"$CARDCTL" -d "$T/city" card freeze 3200000001 --reason 核查 >/dev/null
"$CARDCTL" -d "$T/city" card validate 3200000002 --date 2025-03-05 >/dev/null
"$CARDCTL" -d "$T/city" student put 11010200000001 --name 城名 \
	--school 110101-0002 >/dev/null
sleep 0.05
# District half, later: school B reports card 1 lost, validates it, renames.
"$CARDCTL" -d "$T/school_b" card lost 3200000001 >/dev/null
"$CARDCTL" -d "$T/school_b" card validate 3200000001 --date 2025-04-25 >/dev/null
"$CARDCTL" -d "$T/school_b" student put 11010200000001 --name 校名 \
	--school 110101-0002 >/dev/null

wait_until 5 sh -c "'$CARDCTL' -d '$T/school_a' check --uid 04B00001 | grep -q '^frozen'" ||
	fail "school A does not see the city's freeze"
expect_exit 4 "$CARDCTL" -d "$T/school_a" check --uid 04B00001
assert_grep '^frozen' "$OUT" "school A's decision during the partition"
wait_until 5 sh -c "'$CARDCTL' -d '$T/district' check --uid 04B00001 | grep -q '^lost'" ||
	fail "the district does not see school B's loss"
expect_exit 4 "$CARDCTL" -d "$T/school_b" check --uid 04B00001
assert_grep '^lost' "$OUT" "school B's decision during the partition"
wait_until 10 grep -q "the newest city watermark is [0-9]* s old" "$T/school_b.log" ||
	fail "school B did not warn about a stale watermark"
expect_exit 0 "$CARDCTL" -d "$T/school_b" --json status
assert_grep '"watermark_stale": true' "$OUT" "school B's status during the partition"
same_digest city district && fail "the halves converged through a partition"
[ "$(stat_of link dropped)$(stat_of link cut)" != "00" ] || fail "the proxy cut nothing"
echo "offline: school A says frozen, school B says lost; the halves differ;"
echo "school B warns that its blacklist may be behind"

say "heal"
kill -USR1 "$(cat "$T/link.pid")"
wait_until 60 same_digest city district school_a school_b ||
	fail "no convergence after healing"
wait_until 10 grep -q "city watermark fresh again" "$T/school_b.log" ||
	fail "school B did not note the fresh watermark"
expect_exit 0 "$CARDCTL" -d "$T/school_a" --json card show 3200000001
assert_grep '"lost": true' "$OUT" "the loss survives"
assert_grep '"frozen": true' "$OUT" "the freeze survives"
assert_grep '"valid_through": "2025-05"' "$OUT" "validity: the later month (grow-only)"
expect_exit 0 "$CARDCTL" -d "$T/city" --json card show 3200000002
assert_grep '"valid_through": "2025-03"' "$OUT" "the city's offline validation"
expect_exit 0 "$CARDCTL" -d "$T/city" --json student show 11010200000001
assert_grep '"name": "校名"' "$OUT" "the later name wins"
for n in city district school_a school_b; do
	expect_exit 4 "$CARDCTL" -d "$T/$n" check --uid 04B00001
	expect_exit 0 "$CARDCTL" -d "$T/$n" verify
done
echo "healed: one digest; lost and frozen both stand, validity grew, later name won"

for n in school_a school_b district city; do
	node_stop "$n"
done
echo "daemon_partition: ok"
