#!/bin/sh
# lifecycle.sh — the card lifecycle of DESIGN §6 through the real cardctl:
# reissue (补卡) in every legal and illegal step, on two replicas (the city
# and a service point) that author concurrently and then exchange bundles;
# temporary cards; leavers; card stickers (卡贴); guardian claims; the
# signed CBOR hotlist.
#
#     sh tests/e2e/lifecycle.sh     (after a build; CARDCTL=… for another)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
cd "$T"

DAY=86400000
# days N: move the fixed clock N days on.
days() {
	CARDNODE_NOW_MS=$((CARDNODE_NOW_MS + $1 * DAY))
	export CARDNODE_NOW_MS
}

# decision NODE CARD EXIT WORD: the reader decision for CARD at NODE.
decision() {
	expect_exit "$3" ctl -d "$1" check --card "$2"
	assert_grep "^$4" "$OUT" "check $2 at $1"
}

say "setup: root, secret, a city node, a service point and a school"
tick
ROOT_PUB=$("$CARDCTL" root init --out root.key)
expect_exit 0 ctl secret init --out deploy.secret
for n in "city city 110000" "svc service window-3" "school school 110105-0001"; do
	set -- $n
	expect_exit 0 ctl -d "$1" init --name "$1" --role "$2" --scope "$3" \
		--profile beijing --root-pub "$ROOT_PUB" --secret deploy.secret \
		--root root.key
done
G1=13800000001
G2=13800000002
G3=13800000003
for i in 1 2 3 4 5 6; do
	g=$G1
	[ "$i" -le 4 ] || g=$G2
	expect_exit 0 ctl -d city student put "2025000$i" --name "S$i" \
		--school 110105-0001 --grade 6 --guardian-id "$g"
	expect_exit 0 ctl -d city card issue "C$i" --student "2025000$i" \
		--uid "04A1B2C$i" --expires 2027-06-30
done
expect_exit 0 ctl -d city export --out city-0.bundle
expect_exit 0 ctl -d svc import city-0.bundle
expect_exit 0 ctl -d school import city-0.bundle
assert_same_digest city svc

say "reissue: the request needs a lost card, lost for the loss period"
try 4 -d svc reissue request C1 --delivery home
assert_grep 'not_lost' "$ERR" "request of a card not lost"
try 0 -d svc card lost C1
try 0 -d svc card lost C2
try 4 -d svc reissue request C1 --delivery home
assert_grep 'loss_period' "$ERR" "request on the day of the loss"
try 4 -d svc reissue request C1 --delivery home --override
assert_grep 'district and city' "$ERR" "override at a service point"
days 9
try 4 -d svc reissue request C1 --delivery home
assert_grep 'loss_period' "$ERR" "request after 9 days"
days 1
try 2 -d svc reissue request C1 --delivery boat
try 0 -d svc reissue request C1 --delivery home
assert_grep 'fee 15.00 yuan \(courier at most 15.00' "$OUT" "beijing fee"
try 0 -d svc reissue request C2 --delivery school
try 4 -d svc reissue request C1 --delivery home
assert_grep 'bad_transition' "$ERR" "a second request"
try 4 -d svc reissue produce C1
assert_grep 'bad_transition' "$ERR" "produce before pay"
try 4 -d svc reissue refund C1
assert_grep 'bad_transition' "$ERR" "refund before pay"
try 4 -d svc reissue collect C1 --card N1 --uid 04D1D2D3
assert_grep 'reissue_pending' "$ERR" "collect before delivery"
try 0 -d svc reissue pay C1
try 0 -d svc reissue pay C2
try 0 --json -d svc reissue list --state paid
json_ok "$OUT"
assert_grep '"card": "C1"' "$OUT" "list paid C1"
assert_grep '"fee": 1500' "$OUT" "list fee"

say "two replicas at once: the city refunds C1 while the service point starts it"
expect_exit 0 ctl -d svc export --out svc-1.bundle
expect_exit 0 ctl -d city import svc-1.bundle
# Concurrent: neither sees the other's entry until the exchange.  The city
# refunds C1 first (earlier hlc), the service point then starts production
# of C1; for C2 the service point starts production first and the city's
# refund comes later.
try 0 -d city reissue refund C1
try 0 -d svc reissue produce C2
try 0 -d svc reissue produce C1
try 0 -d city reissue refund C2
decision city C1 0 accept
bundle_exchange city svc
assert_same_digest city svc
for n in city svc; do
	# C1: the refund came first: the request is cancelled, the loss lifted.
	expect_exit 0 ctl --json -d $n card show C1
	assert_grep '"reissue": "refunded"' "$OUT" "C1 at $n"
	assert_grep '"status": "active"' "$OUT" "C1 at $n"
	decision $n C1 0 accept
	# C2: production started first: the refund is refused everywhere.
	expect_exit 0 ctl --json -d $n card show C2
	assert_grep '"reissue": "in_production"' "$OUT" "C2 at $n"
	decision $n C2 4 lost
	expect_exit 0 ctl -d $n log --refused
	assert_grep 'bad_transition' "$OUT" "refused steps at $n"
done

say "refund after production started is refused; delivery must match"
try 4 -d svc reissue refund C2
assert_grep 'bad_transition' "$ERR" "refund in production"
try 4 -d svc reissue ship C2
assert_grep 'wrong_delivery' "$ERR" "ship a school delivery"
days 30
try 0 -d svc reissue list
assert_grep 'C2 .*in_production.*OVERDUE' "$OUT" "overdue production"
# A working calendar (the data dir's, or --calendar): ten weekdays of
# holiday while C2 was in production, and it is no longer overdue.
try 0 --json -d svc reissue list --state in_production
wd=$(json_num working_days "$OUT")
printf '# closed\n2025-03-24..2025-04-04 holiday  # ten weekdays\n' >svc/calendar
try 0 --json -d svc reissue list --state in_production
assert_eq $((wd - 10)) "$(json_num working_days "$OUT")" "working days with the calendar"
assert_grep '"overdue": false' "$OUT" "not overdue with the holidays"
mv svc/calendar closed.cal
try 0 -d svc reissue list --calendar closed.cal
assert_no_grep 'OVERDUE' "$OUT" "--calendar FILE"
printf '2025-03-24 holiday\n2025-04-31 holiday\n' >bad.cal
try 2 -d svc reissue list --calendar bad.cal
assert_grep 'bad.cal:2: not a date' "$ERR" "calendar error names file and line"
try 3 -d svc reissue list --calendar missing.cal
try 0 -d svc reissue at-school C2
try 4 -d svc reissue at-school C2
try 4 -d svc reissue collect C2 --card C1 --uid 04D1D2D3
try 0 -d svc reissue collect C2 --card N2 --uid 04D1D2D3
expect_exit 0 ctl --json -d svc card show C2
assert_grep '"status": "replaced"' "$OUT" "C2 replaced"
assert_grep '"replaced_by": "N2"' "$OUT" "C2 replaced by N2"
assert_grep '"reissue": "collected"' "$OUT" "C2 collected"
decision svc C2 4 replaced
decision svc N2 0 accept
try 4 -d svc card found C2
assert_grep 'terminal' "$ERR" "found after replacement"
bundle_exchange city svc
assert_same_digest city svc
decision city N2 0 accept

say "temporary cards: only during a loss; expire when found"
try 4 -d city card issue T3 --student 20250003 --uid 04E1E2E3 --kind temporary
assert_grep 'not_lost' "$ERR" "temporary card without a loss"
try 0 -d city card lost C3
try 0 -d city card issue T3 --student 20250003 --uid 04E1E2E3 --kind temporary
decision city T3 0 accept
try 0 -d city card found C3
decision city T3 4 expired
decision city C3 0 accept

say "… and when the replacement is issued (the city waives the loss period)"
try 0 -d city card lost C3
try 0 -d city card issue T3B --student 20250003 --uid 04E1E2E4 --kind temporary
try 0 -d city reissue request C3 --delivery home --override
for step in pay produce ship; do
	try 0 -d city reissue $step C3
done
try 4 -d city reissue at-school C3
decision city T3B 0 accept
try 0 -d city reissue collect C3 --card N3 --uid 04F1F2F3
decision city T3B 4 expired
decision city C3 4 replaced
decision city N3 0 accept

say "leavers: one entry freezes every card; no new card"
expect_exit 0 ctl --json -d city status
cp "$OUT" city-before-leave.json
try 0 -d school student leave 20250005 --reason graduated
try 0 --json -d school student show 20250005
assert_grep '"left": "graduated"' "$OUT" "left"
decision school C5 4 frozen
bundle_exchange city school
decision city C5 4 frozen
# The leave names no card, yet the hotlist delta carries the frozen card.
try 0 -d city hotlist --since-vv city-before-leave.json
assert_grep '^C5,20250005,frozen,' "$OUT" "hotlist delta after a leave"
try 4 -d city card issue X5 --student 20250005 --uid 04A5A5A5
assert_grep 'student_left' "$ERR" "issue to a leaver"
try 2 -d school student leave 20250006 --reason bored

say "card stickers (卡贴): the number must be the card's"
try 4 -d city card sticker C4 --number C9 --school 110105-0002
assert_grep 'sticker_number' "$ERR" "sticker number mismatch"
try 0 -d city card sticker C4 --number C4 --school 110105-0002 \
	--photo-ref "$(printf '%064d' 7)" --valid-through 2030-06
try 0 --json -d city card show C4
assert_grep '"school": "110105-0002"' "$OUT" "sticker school"
assert_grep '"expires": "2030-06-30"' "$OUT" "sticker validity"
# The school 110105-0001 governs neither the new school nor the student now.
expect_exit 0 ctl -d city export --out city-s.bundle
expect_exit 0 ctl -d school import city-s.bundle
try 4 -d school card sticker C4 --number C4 --school 110105-0001

say "guardian claims: at most three, only the registry's guardian"
for i in 1 2 3; do
	try 0 -d city claim --guardian-id "$G1" --student "2025000$i"
done
try 4 -d city claim --guardian-id "$G3" --student 20250006
assert_grep 'does not name this person as the student' "$ERR" "non-guardian"
try 4 -d city claim --guardian-id "$G1" --student 20250004
assert_grep 'three children' "$ERR" "fourth claim"
# The service point has not seen the city's claims: it accepts a fourth.
try 0 -d svc claim --guardian-id "$G1" --student 20250004
try 4 -d svc claim --guardian-id "$G1" --student 20250004
assert_grep 'claimed' "$ERR" "a second claim of one student"
bundle_exchange city svc
assert_same_digest city svc
for n in city svc; do
	try 0 -d $n claim list --guardian-id "$G1"
	assert_grep '^20250004 .*over_limit' "$OUT" "claims at $n"
	assert_no_grep '^2025000[123] .*over_limit' "$OUT" "claims at $n"
done
grep -rq "$G1" city svc && fail "a guardian number is stored in clear"

say "the signed CBOR hotlist verifies; a changed byte does not"
tick
"$CARDCTL" -d city hotlist --format cbor >hot.cbor
try 0 -d svc hotlist --verify hot.cbor
assert_grep '^verified: signed by ' "$OUT" "hotlist verified"
try 0 --json -d school hotlist --verify hot.cbor
json_ok "$OUT"
assert_grep '"verified": true' "$OUT" "hotlist verified (json)"
expect_exit 0 ctl --json -d city id
city_id=$(json_str node "$OUT")
expect_exit 0 ctl --json -d city status
city_seq=$(json_num "$city_id" "$OUT")
[ -n "$city_seq" ] || fail "no seq of the city in its status"
expect_exit 0 ctl --json -d city hotlist --verify hot.cbor
assert_grep "\"$city_id\": $city_seq,?\$" "$OUT" "hotlist complete as of the city's vv"
# Change a status inside the signed payload: "frozen" -> "frozan".
sed 's/frozen/frozan/' hot.cbor >bad.cbor
cmp -s hot.cbor bad.cbor && fail "tampering changed nothing"
try 4 -d city hotlist --verify bad.cbor
assert_grep 'signature does not verify' "$ERR" "tampered hotlist"
head -c 20 hot.cbor >short.cbor
try 1 -d city hotlist --verify short.cbor
# A delta since the school's version vector is signed too.
expect_exit 0 ctl --json -d school status
cp "$OUT" school-vv.json
tick
"$CARDCTL" -d city hotlist --format cbor --since-vv school-vv.json >delta.cbor
try 0 --json -d svc hotlist --verify delta.cbor
assert_grep '"delta": true' "$OUT" "signed delta"

say "every replica agrees"
bundle_exchange city school
bundle_exchange svc school
assert_same_digest city svc
assert_same_digest city school
try 0 -d city verify
echo "lifecycle: ok"
