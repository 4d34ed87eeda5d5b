#!/bin/sh
# daemon_refuse.sh — peers that must be refused by a running city node:
#   - a node without the deployment's network key (another secret),
#   - a node whose certificate the root has revoked,
#   - a node certified by another root,
#   - a replay of a captured handshake.
# Each is refused; none of them receives an entry, and the city takes none
# of theirs.  A client without the network key gets not a single byte.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

deploy
node_init city city 110000
node_conf city 0
node_start city
CITY=$(node_addr city)
export CARDNODE_ACTOR=e2e
"$CARDCTL" -d "$T/city" student put 11010100000001 --name 韩梅梅 \
	--school 110101-0001 >/dev/null
"$CARDCTL" -d "$T/city" card issue 3100000001 --student 11010100000001 \
	--uid 04A1B2C3 >/dev/null
city_id=$("$CARDCTL" -d "$T/city" --json id | json_str node /dev/stdin)

# holds_origin NODE ID: NODE's version vector names origin ID.
holds_origin() {
	"$CARDCTL" -d "$T/$1" --json status | grep -q "\"$2\": [0-9]"
}

# refused NAME: NAME (configured with the city as its only peer) tried
# several times, holds nothing of the city, and the city nothing of it.
refused() {
	id_=$("$CARDCTL" -d "$T/$1" --json id | json_str node /dev/stdin)
	holds_origin "$1" "$city_id" && fail "$1 received the city's entries"
	holds_origin city "$id_" && fail "the city took entries from $1"
	grep -q "connected (" "$T/$1.log" && fail "$1 got connected"
	return 0
}

say "a node with another deployment secret: dropped without a word"
"$CARDCTL" secret init --out "$T/other.secret" >/dev/null 2>&1
"$CARDCTL" -d "$T/stranger" init --name stranger --role school \
	--scope 110101-0001 --root-pub "$ROOT_PUB" --secret "$T/other.secret" \
	--root "$T/root.key" >/dev/null 2>&1
"$CARDCTL" -d "$T/stranger" student put 11010100000009 --name 陌生 \
	--school 110101-0001 >/dev/null
node_conf stranger none "$CITY"
node_start stranger
wait_until 10 sh -c "[ \$(grep -c 'closed by the peer' '$T/stranger.log') -ge 2 ]" ||
	fail "the stranger was not dropped (twice)"
refused stranger
grep -q "handshake refused" "$T/city.log" &&
	fail "the city logged a stranger without the network key as a peer"
head -c 64 /dev/urandom >"$T/hello.bin"
expect_exit 0 "$TCPPROBE" send "$CITY" "$T/hello.bin" --wait 1000
assert_eq "received 0 bytes, closed" "$(cat "$OUT")" "a HELLO without the network key"
node_stop stranger
echo "stranger: dropped, 0 bytes answered, nothing exchanged"

say "a revoked node"
node_init revoked school 110101-0001
rev_id=$("$CARDCTL" -d "$T/revoked" --json id | json_str node /dev/stdin)
"$CARDCTL" -d "$T/revoked" student put 11010100000008 --name 吊销 \
	--school 110101-0001 >/dev/null
"$CARDCTL" revoke --root "$T/root.key" --node "$rev_id" --after-seq 0 \
	--out "$T/revoked.rev" >/dev/null 2>&1
"$CARDCTL" -d "$T/city" revoke install "$T/revoked.rev" >/dev/null
# The running city notices within its 50 ms change check.
sleep 0.5
node_conf revoked none "$CITY"
node_start revoked
wait_until 10 grep -q "handshake refused.*revoked" "$T/city.log" ||
	fail "the city did not refuse the revoked node"
sleep 1
refused revoked
node_stop revoked
echo "revoked: refused by the city ($(grep -c 'handshake refused' "$T/city.log") refusals so far)"

say "a node certified by another root"
# The city dials it (SIGHUP with a new peer), so the city is the side that
# checks the stranger's certificate first.
"$CARDCTL" root init --out "$T/root2.key" >"$T/root2.pub.txt" 2>/dev/null
root2=$(grep -oE '[0-9a-f]{64}' "$T/root2.pub.txt" | head -n 1)
"$CARDCTL" -d "$T/foreign" init --name foreign --role city --scope 110000 \
	--root-pub "$root2" --secret "$T/secret" --root "$T/root2.key" \
	>/dev/null 2>&1
"$CARDCTL" -d "$T/foreign" student put 11010100000007 --name 外来 \
	--school 110101-0001 >/dev/null
node_conf foreign 0
node_start foreign
node_conf city "${CITY##*:}" "$(node_addr foreign)"
kill -HUP "$(cat "$T/city.pid")"
wait_until 10 grep -q "handshake refused: .*not the deployment root" "$T/city.log" ||
	fail "the city did not refuse a certificate of another root"
node_conf city "${CITY##*:}"
kill -HUP "$(cat "$T/city.pid")"
wait_until 10 grep -q "SIGHUP: configuration reloaded (0 peers)" "$T/city.log" ||
	fail "the city did not drop the foreign peer"
refused foreign
node_stop foreign
echo "foreign root: refused by the city"

say "a captured handshake, replayed"
node_init school school 110101-0001
"$TCPPROBE" relay 0 "$CITY" --record "$T/capture.bin" >"$T/relay.out" &
PIDS_="$PIDS_ $!"
wait_until 5 grep -q '^listening' "$T/relay.out" || fail "relay did not start"
node_conf school none "127.0.0.1:$(sed -n 's/^listening //p' "$T/relay.out")"
node_start school
wait_until 10 "$CARDCTL" -d "$T/school" check --uid 04A1B2C3 ||
	fail "the school did not sync through the relay"
node_stop school
[ -s "$T/capture.bin" ] || fail "nothing captured"
ok_before=$(grep -c "connected (inbound)" "$T/city.log")
before=$(grep -c "handshake refused" "$T/city.log")
expect_exit 0 "$TCPPROBE" send "$CITY" "$T/capture.bin" --wait 2000
wait_until 5 sh -c "[ \$(grep -c 'handshake refused' '$T/city.log') -gt $before ]" ||
	fail "the city did not refuse the replay"
assert_grep '^received [0-9]+ bytes, closed$' "$OUT" "the replay's answer"
got=$(sed -n 's/^received \([0-9]*\) bytes.*/\1/p' "$OUT")
# HELLO (64), the stream header frame (28) and the city's AUTH frame: the
# handshake and nothing after it.
[ "$got" -le 600 ] || fail "the replay received $got bytes: more than a handshake"
assert_eq "$ok_before" "$(grep -c "connected (inbound)" "$T/city.log")" \
	"connections the city accepted"
echo "replay: refused after the handshake, $got bytes answered (no data)"

node_stop city
expect_exit 0 "$CARDCTL" -d "$T/city" verify
echo "daemon_refuse: ok"
