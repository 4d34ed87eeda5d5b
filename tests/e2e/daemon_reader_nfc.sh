#!/bin/sh
# daemon_reader_nfc.sh — cardnode with a libnfc reader
# (`[reader] device = nfc:pn532_uart:LINK`) against the emulated PN532 on a
# pseudo-terminal (tests/tools/pn532emu), through the real Debian libnfc.
#
# On a Suzhou node: blank cards are personalised at an issue station; then
# at a gate every decision comes out — accept, lost, frozen, cancelled,
# replaced, expired, not_validated, unknown —, a card with an altered
# education block is forged, two cards sharing a UID are told apart by the
# chip's card number (and refused as ambiguous without it), a card resting
# on the reader for 5 s is one tap, and unplugging and plugging the reader
# back resumes taps without restarting the daemon.  A validation station
# validates a card and writes the new validity to it.  On a Beijing node,
# a card without this term's registration is unregistered.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"
. "$here/pn532.inc"

# ---- the node: data written with cardctl, the reader run by cardnode ----
reader_conf() { # NODE MODE
	node_conf "$1" none
	cat >>"$T/$1.conf" <<EOF
[reader]
device = nfc:pn532_uart:$T/reader
mode = $2
name = $2-1
EOF
}
taps_of() {
	"$CARDCTL" -d "$T/$1" taps 2>/dev/null | tail -n +2 | wc -l | tr -d ' '
}
# tap NODE UID [IMAGE]: place the card, wait for its row in the tap log,
# take the card away; $ROW is the row.
tap() {
	before_=$(taps_of "$1")
	if [ $# -ge 3 ]; then emu place "$2" "$3"; else emu place "$2"; fi
	wait_until 10 sh -c "[ \$(CARDCTL='$CARDCTL' '$CARDCTL' -d '$T/$1' taps 2>/dev/null |
		tail -n +2 | wc -l) -gt $before_ ]" || fail "no tap recorded for $2"
	ROW=$("$CARDCTL" -d "$T/$1" taps | tail -n 1)
	emu remove
}
decision() { # the decision column of $ROW
	echo "$ROW" | cut -d, -f6
}
expect_tap() { # NODE UID DECISION [IMAGE]
	n_=$1 u_=$2 d_=$3
	shift 3
	tap "$n_" "$u_" "$@"
	[ "$(decision)" = "$d_" ] || fail "card $u_: expected $d_, got: $ROW"
	printf '  %-8s %s\n' "$u_" "$(echo "$ROW" | cut -d, -f4-)"
}

deploy
"$CARDCTL" -d "$T/sz" init --name sz --role city --scope 110000 --profile suzhou \
	--root-pub "$ROOT_PUB" --secret "$T/secret" --root "$T/root.key" \
	>/dev/null 2>&1
export CARDNODE_ACTOR=e2e
sz() { "$CARDCTL" -d "$T/sz" "$@" >/dev/null; }
for i in 1 2 3 4 5 6 7 8; do
	sz student put "3205050000000$i" --name "学生$i" --school 320505-0001
done
sz card issue 5100000001 --student 32050500000001 --uid 04000001
sz card issue 5100000002 --student 32050500000002 --uid 04000002
sz card issue 5100000003 --student 32050500000003 --uid 04000003
sz card issue 5100000004 --student 32050500000004 --uid 04000004
sz card issue 5100000005 --student 32050500000005 --uid 04000005
sz card issue 5100000006 --student 32050500000006 --uid 04000006 --expires 2024-06-30
sz card issue 5100000007 --student 32050500000007 --uid 04000007
sz card issue 5100000008 --student 32050500000008 --uid 04000008
# in_the_past DAYS NODE ROLE SCOPE PROFILE cmd…: a node whose whole history
# was written DAYS ago (the clock only moves forward, so the past has to be
# another node's), merged into $T/NODE.
in_the_past() {
	days_=$1 into_=$2
	shift 2
	(
		CARDNODE_NOW_MS=$(( $(now_ms) - days_ * 86400000 ))
		export CARDNODE_NOW_MS
		p_="$T/past_$into_"
		"$CARDCTL" -d "$p_" init --name "past-$into_" --role city --scope 110000 \
			--root-pub "$ROOT_PUB" --secret "$T/secret" --root "$T/root.key" \
			>/dev/null 2>&1
		"$CARDCTL" -d "$p_" student put "$1" --name 往年 --school "$2" >/dev/null
		"$CARDCTL" -d "$p_" card issue "$3" --student "$1" --uid "$4" >/dev/null
	)
	"$CARDCTL" -d "$T/$into_" merge "$T/past_$into_" >/dev/null
}
# A card issued three months ago and never validated since.
in_the_past 92 sz 32050500000009 320505-0001 5100000009 04000009

say "issue station: personalise blank cards"
reader_conf sz issue
node_start sz
wait_until 10 grep -q "reader nfc:.*: ready" "$T/sz.log" || fail "the reader did not open"
for u in 04000001 04000007 04000008 04000009; do
	tap sz "$u"
	echo "$ROW" | grep -q ',personalised' || fail "card $u not personalised: $ROW"
	echo "  $u personalised: $(echo "$ROW" | cut -d, -f4)"
done
tap sz 04FFFFFF
echo "$ROW" | grep -q 'no card with this UID' || fail "an unknown blank card: $ROW"
node_stop sz

say "the replica changes: a loss, a freeze, a cancellation, a replacement, a shared UID"
sz card lost 5100000002
sz card freeze 5100000003
sz card cancel 5100000004
sz card issue 5100000015 --student 32050500000005 --uid 04000015 --replaces 5100000005
sz student put 32050500000010 --name 同号 --school 320505-0001
sz card issue 5100000010 --student 32050500000010 --uid 04000008

say "gate: one decision per card"
reader_conf sz gate
node_start sz
wait_until 10 sh -c "[ \$(grep -c 'reader nfc:.*: ready' '$T/sz.log') -ge 2 ]" ||
	fail "the reader did not open"
expect_tap sz 04000001 accept
echo "$ROW" | grep -q 'the chip says' && fail "a freshly personalised card disagrees: $ROW"
expect_tap sz 04000002 lost
expect_tap sz 04000003 frozen
expect_tap sz 04000004 cancelled
expect_tap sz 04000005 replaced
expect_tap sz 04000006 expired
expect_tap sz 04000009 not_validated
expect_tap sz 04FFFFFE unknown
expect_tap sz 04000008 accept
echo "$ROW" | grep -q "the chip's card number picked 5100000008" ||
	fail "the chip did not pick the card: $ROW"

say "a blank chip with a shared UID, an altered block"
emu place 04FFFF01
emu dump "$T/blank.img"
emu remove
sleep 2.2 # the same UID again within 2 s is ignored
expect_tap sz 04000008 ambiguous "$T/blank.img"
echo "$ROW" | grep -q "2 cards share this UID and the chip gives no card number" ||
	fail "the ambiguity is not explained: $ROW"
emu dump "$T/c7.img" 04000007
# The first digit of the card number (block 4, byte 4): 5100000007 becomes
# 6100000007, still well-formed, but the MAC no longer matches.
printf '6' | dd of="$T/c7.img" bs=1 seek=68 conv=notrunc 2>/dev/null
expect_tap sz 04000007 forged "$T/c7.img"

say "a card resting 5 s is one tap"
before=$(taps_of sz)
emu place 04000003
sleep 5
emu remove
wait_until 5 sh -c "[ \$(CARDCTL='$CARDCTL' '$CARDCTL' -d '$T/sz' taps | tail -n +2 | wc -l) -gt $before ]" ||
	fail "no tap for the resting card"
sleep 0.5
assert_eq $((before + 1)) "$(taps_of sz)" "taps while one card rested 5 s"
echo "  one tap"

say "unplug the reader, plug it back"
emu unplug
wait_until 10 grep -q "reader: not available" "$T/sz.log" ||
	fail "the daemon did not notice the unplug"
wait_until 3 sh -c "'$CARDCTL' -d '$T/sz' status | grep -q '^reader .*absent'" ||
	fail "status: the reader is not shown absent"
emu plug
wait_until 20 sh -c "[ \$(grep -c 'reader nfc:.*: ready' '$T/sz.log') -ge 3 ]" ||
	fail "the reader did not come back"
sleep 2.2
expect_tap sz 04000002 lost
kill -0 "$(cat "$T/sz.pid")" || fail "the daemon died"
assert_eq 2 "$(grep -c ': node sz ' "$T/sz.log")" "daemon starts (issue, gate): none more"
node_stop sz

say "validation station: validate and write the card"
reader_conf sz validate
node_start sz
wait_until 10 sh -c "[ \$(grep -c 'reader nfc:.*: ready' '$T/sz.log') -ge 4 ]" ||
	fail "the reader did not open"
expect_tap sz 04000009 accept
echo "$ROW" | grep -q 'validated through' || fail "not validated: $ROW"
sleep 2.2
tap sz 04000009
echo "$ROW" | grep -q 'already validated' || fail "second tap: $ROW"
echo "$ROW" | grep -q 'the chip says' && fail "the chip was not written: $ROW"
echo "  04000009 validated; the chip holds the new validity"
node_stop sz

say "Beijing: a card without this term's registration"
"$CARDCTL" -d "$T/bj" init --name bj --role city --scope 110000 --profile beijing \
	--root-pub "$ROOT_PUB" --secret "$T/secret" --root "$T/root.key" \
	>/dev/null 2>&1
in_the_past 400 bj 11010100000001 110101-0001 1100000001 04B00001
reader_conf bj gate
node_start bj
wait_until 10 grep -q "reader nfc:.*: ready" "$T/bj.log" || fail "the reader did not open"
expect_tap bj 04B00001 unregistered
node_stop bj

for n in sz bj; do
	expect_exit 0 "$CARDCTL" -d "$T/$n" verify
done
echo "daemon_reader_nfc: ok"
