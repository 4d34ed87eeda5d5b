#!/bin/sh
# daemon_reader_sim.sh — a Suzhou validation station on the simulated
# reader (`[reader] device = sim:PATH`, `cardctl tap`), online and offline.
#
#     city ══ proxy ══ school (validate station)
#
# A card tapped at the station is validated for the month (card.validate,
# authored by the school) and the city sees it.  With the network cut,
# taps are still answered from the replica and validations still happen;
# they reach the city once the link is back.  Every tap is in the tap log
# (`cardctl taps`), and the reader shows in `cardctl status`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

deploy
"$CARDCTL" -d "$T/city" init --name city --role city --scope 110000 \
	--profile suzhou --root-pub "$ROOT_PUB" --secret "$T/secret" \
	--root "$T/root.key" >/dev/null 2>&1
"$CARDCTL" -d "$T/school" init --name school --role school \
	--scope 320505-0001 --profile suzhou --root-pub "$ROOT_PUB" \
	--secret "$T/secret" --root "$T/root.key" >/dev/null 2>&1
node_conf city 0
node_start city
proxy_start link "$(node_addr city)" --drop 1 --cut 1
kill -USR1 "$(cat "$T/link.pid")" # healthy for now
node_conf school none "$(proxy_addr link)"
cat >>"$T/school.conf" <<EOF
[reader]
device = sim:$T/reader.sock
mode = validate
name = station-1
EOF
node_start school
export CARDNODE_ACTOR=e2e

for i in 1 2 3; do
	"$CARDCTL" -d "$T/city" student put "3205050000000$i" --name "苏$i" \
		--school 320505-0001 >/dev/null
	"$CARDCTL" -d "$T/city" card issue "510000000$i" --student "3205050000000$i" \
		--uid "0400000$i" >/dev/null
done
wait_until 10 same_digest city school || fail "the school did not sync"

say "online: a tap validates the card for the month"
# valid_through of a card at a node ("null" before any validation).
through() {
	"$CARDCTL" -d "$T/$1" --json card show "$2" | json_str valid_through /dev/stdin
}
assert_eq "" "$(through school 5100000001)" "no validation before the tap"
expect_exit 0 "$CARDCTL" -d "$T/school" tap --uid 04000001
assert_grep '^accept +card 5100000001 +student 32050500000001: validated through [0-9]{4}-[0-9]{2}' \
	"$OUT" "the station's answer"
cat "$OUT"
month=$(sed -n 's/.*validated through \([0-9-]*\).*/\1/p' "$OUT" | head -n 1)
expect_exit 0 "$CARDCTL" -d "$T/school" tap --uid 04000001
assert_grep 'already validated' "$OUT" "a second tap"
wait_until 5 sh -c "'$CARDCTL' -d '$T/city' --json card show 5100000001 |
	grep -q '\"valid_through\": \"$month\"'" ||
	fail "the city did not get the validation"
expect_exit 3 "$CARDCTL" -d "$T/school" tap --uid 04FFFFFF
assert_grep '^unknown' "$OUT" "an unknown card"
expect_exit 2 "$CARDCTL" -d "$T/school" tap --uid 0G
"$CARDCTL" -d "$T/city" card lost 5100000003 >/dev/null
wait_until 5 sh -c "'$CARDCTL' -d '$T/school' check --uid 04000003 | grep -q '^lost'" ||
	fail "the loss did not reach the school"
expect_exit 4 "$CARDCTL" -d "$T/school" tap --uid 04000003
assert_grep '^lost +card 5100000003.*not validated: lost' "$OUT" "a lost card is not validated"
echo "validated online; unknown and lost cards refused"

say "offline: the link to the city is cut"
kill -USR2 "$(cat "$T/link.pid")"
wait_link_down school
expect_exit 0 "$CARDCTL" -d "$T/school" tap --uid 04000002
assert_grep 'validated through' "$OUT" "an offline validation"
assert_eq "" "$(through city 5100000002)" "the city, cut off, does not know yet"
echo "school: validated offline; the city does not know yet"

say "the link returns"
kill -USR1 "$(cat "$T/link.pid")"
wait_until 30 sh -c "'$CARDCTL' -d '$T/city' --json card show 5100000002 |
	grep -q '\"valid_through\": \"$month\"'" ||
	fail "the offline validation never reached the city"
wait_until 10 same_digest city school || fail "no convergence"
echo "the offline validation reached the city"

say "tap log and status"
expect_exit 0 "$CARDCTL" -d "$T/school" taps
assert_eq 6 "$(wc -l <"$OUT" | tr -d ' ')" "header + 5 taps (the bad UID never reached the daemon)"
assert_grep '^time,reader,uid,card,student,decision,detail$' "$OUT" "CSV header"
assert_grep ',station-1,04000002,5100000002,32050500000002,accept,validated through' \
	"$OUT" "the offline tap"
expect_exit 0 "$CARDCTL" -d "$T/school" --json taps
json_ok "$OUT"
expect_exit 0 "$CARDCTL" -d "$T/school" status
assert_grep "^reader +sim:.*reader.sock \(validate station\), ready, 5 taps" \
	"$OUT" "status shows the reader"
grep -rq '苏' "$T/school/taps" && fail "a name in the tap log"
echo "5 taps in the log, no names; status shows the reader"

node_stop school
node_stop city
expect_exit 1 "$CARDCTL" -d "$T/school" tap --uid 04000001
assert_grep 'no running cardnode with a simulated reader' "$ERR" "tap without a daemon"
echo "daemon_reader_sim: ok"
