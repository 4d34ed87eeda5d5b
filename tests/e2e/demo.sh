#!/bin/sh
# demo.sh — the README's main job: a small Suzhou deployment, live.
#
#     city ══(a cable we can cut)══ district ─┬─ school A  (a card reader)
#                                             └─ school B
#
# Four real cardnode processes on 127.0.0.1 and an emulated PN532 card
# reader at school A's gate.  Cards are issued at the city; a card is
# tapped and accepted; school B reports it lost and school A's reader
# refuses it within a second; the cable to the city is cut; both sides
# keep working offline (validations on each side, taps answered from the
# local replica); the cable is mended and every replica ends with the same
# state digest.  Exits non-zero if any step does not behave; cleans up.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"
. "$here/pn532.inc"
export CARDNODE_ACTOR=demo

step() { printf '\n== %s\n' "$*"; }
info() { printf '   %s\n' "$*"; }

# tap UID: the card is held to school A's reader and taken away; prints the
# reader's decision as the tap log recorded it.
tap() {
	before_=$("$CARDCTL" -d "$T/school_a" taps 2>/dev/null | wc -l)
	emu place "$1"
	wait_until 5 sh -c "[ \$('$CARDCTL' -d '$T/school_a' taps 2>/dev/null |
		wc -l) -gt $before_ ]" || fail "the reader did not answer card $1"
	emu remove
	TAP=$("$CARDCTL" -d "$T/school_a" taps | tail -n 1)
	DECISION=$(echo "$TAP" | cut -d, -f6)
	detail_=$(echo "$TAP" | cut -d, -f7-)
	info "reader at school A: card $(echo "$TAP" | cut -d, -f4) → $DECISION${detail_:+ ($detail_)}"
}

step "1. A deployment: root key, deployment secret, four nodes"
deploy
info "root public key $ROOT_PUB (the root key itself stays offline)"
for spec in "city city 320000" "district district 320505" \
	"school_a school 320505-0001" "school_b school 320505-0002"; do
	set -- $spec
	"$CARDCTL" -d "$T/$1" init --name "$1" --role "$2" --scope "$3" \
		--profile suzhou --root-pub "$ROOT_PUB" --secret "$T/secret" \
		--root "$T/root.key" >/dev/null 2>&1 || fail "init $1"
	info "$1: $2 node for $3, certified by the root ($("$CARDCTL" -d "$T/$1" --json id | json_str node /dev/stdin | cut -c 1-16)…)"
done

step "2. Four cardnode daemons on 127.0.0.1, and a card reader at school A"
node_conf city 0
node_start city
proxy_start cable "$(node_addr city)" --drop 1 --cut 1
kill -USR1 "$(cat "$T/cable.pid")" # the cable works for now
node_conf district 0 "$(proxy_addr cable)"
node_start district
node_conf school_a none "$(node_addr district)"
cat >>"$T/school_a.conf" <<EOF
[reader]
device = nfc:pn532_uart:$T/reader
mode = gate
name = gate-A
EOF
node_start school_a
node_conf school_b none "$(node_addr district)"
node_start school_b
wait_until 10 grep -q "reader nfc:.*: ready" "$T/school_a.log" ||
	fail "school A's reader did not open"
info "city listens on $(node_addr city); the district dials it through the cable"
info "the schools dial the district; school A's reader is a PN532 on $T/reader"

step "3. The city enrols two students of school B and issues their cards"
"$CARDCTL" -d "$T/city" student put 32050500000001 --name 王小明 \
	--school 320505-0002 --id-number 320505201503041235 >/dev/null
"$CARDCTL" -d "$T/city" card issue 5100000001 --student 32050500000001 \
	--uid 04A1B2C3 >/dev/null
"$CARDCTL" -d "$T/city" student put 32050500000002 --name 李小红 \
	--school 320505-0002 --id-number 32050520140909002X >/dev/null
"$CARDCTL" -d "$T/city" card issue 5100000002 --student 32050500000002 \
	--uid 04D4E5F6 >/dev/null
wait_until 10 same_digest city district school_a school_b ||
	fail "the cards did not reach every node"
info "cards 5100000001 and 5100000002 are on all four replicas"

step "4. A tap at school A's gate"
tap 04A1B2C3
[ "$DECISION" = accept ] || fail "the card was not accepted"

step "5. School B reports card 5100000001 lost; school A's gate refuses it"
t0=$(now_ms)
"$CARDCTL" -d "$T/school_b" card lost 5100000001 >/dev/null
wait_until 5 sh -c "'$CARDCTL' -d '$T/school_a' check --card 5100000001 | grep -q '^lost'" ||
	fail "the loss never reached school A"
dt=$(( $(now_ms) - t0 ))
info "the loss reached school A in $dt ms (school B → district → school A)"
[ "$dt" -le 1000 ] || fail "the loss took $dt ms (more than a second)"
sleep 2.1 # the reader ignores the same card again within 2 s
tap 04A1B2C3
[ "$DECISION" = lost ] || fail "the lost card was not refused"

step "6. The cable to the city is cut"
kill -USR2 "$(cat "$T/cable.pid")"
wait_link_down district
info "the district has lost the city; both halves keep working"

step "7. Offline validations on both sides"
"$CARDCTL" -d "$T/city" card validate 5100000002 >/dev/null
v7=$("$CARDCTL" -d "$T/city" --json card show 5100000002 | json_str valid_through /dev/stdin)
[ -n "$v7" ] || fail "the city's validation did not take"
info "city: card 5100000002 validated through $v7"
"$CARDCTL" -d "$T/school_b" card found 5100000001 >/dev/null
"$CARDCTL" -d "$T/school_b" card validate 5100000001 >/dev/null
info "school B: card 5100000001 found and validated"
sleep 2.1
tap 04A1B2C3
[ "$DECISION" = accept ] || fail "school A did not get school B's offline change"
info "(school A hears school B through the district, without the city)"
same_digest city district && fail "the halves agree through a cut cable"
info "city and district differ: $(digest_of city | cut -c 1-16)… vs $(digest_of district | cut -c 1-16)…"

step "8. The cable is mended"
kill -USR1 "$(cat "$T/cable.pid")"
wait_until 60 same_digest city district school_a school_b ||
	fail "the replicas did not converge after the cable was mended"
for n in city district school_a school_b; do
	info "$(printf '%-9s' "$n") digest $(digest_of "$n")"
done
v=$("$CARDCTL" -d "$T/school_a" --json card show 5100000002 | json_str valid_through /dev/stdin)
[ "$v" = "$v7" ] || fail "the city's offline validation did not arrive ('$v')"
info "school A now knows the city's validation: card 5100000002 valid through $v"
tap 04D4E5F6
[ "$DECISION" = accept ] || fail "card 5100000002 was not accepted"

step "9. Nothing of it in clear: no national ID number in any data dir"
for id in 320505201503041235 32050520140909002X; do
	grep -rqa "$id" "$T/city" "$T/district" "$T/school_a" "$T/school_b" &&
		fail "a national ID number is stored in clear"
done
info "only keyed digests of ID numbers are stored"

step "10. Stop"
for n in school_a school_b district city; do
	node_stop "$n"
done
info "every daemon stopped cleanly"
printf '\ndemo: ok\n'
