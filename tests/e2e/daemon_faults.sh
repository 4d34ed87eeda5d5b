#!/bin/sh
# daemon_faults.sh — replication through a faulty network (faultproxy).
#
#   school A ── proxy A ── city ── proxy B ── school B
#
# 1. Every byte corrupted on a working link: each side rejects the other's
#    frames by the stream's authentication, applies nothing, and the link
#    recovers once the corruption stops.
# 2. Drops, delays, cuts in the middle of frames and corruption on both
#    links for a while, with writes at all three nodes meanwhile: after the
#    faults stop, all three converge to one digest and verify.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
NODE_LOG_LEVEL=debug
. "$here/daemon.inc"

deploy
node_init city city 110000
node_init school_a school 110101-0001
node_init school_b school 110101-0002
node_conf city 0
node_start city
CITY=$(node_addr city)
export CARDNODE_ACTOR=e2e

proxy_start proxy_a "$CITY" --corrupt 1 --seed 11
kill -USR1 "$(cat "$T/proxy_a.pid")" # clean until we say so
node_conf school_a none "$(proxy_addr proxy_a)"
node_start school_a

say "a working link, then every byte corrupted"
"$CARDCTL" -d "$T/city" student put 11010100000001 --name 王芳 \
	--school 110101-0001 >/dev/null
"$CARDCTL" -d "$T/city" card issue 3100000001 --student 11010100000001 \
	--uid 04000001 >/dev/null
wait_until 10 same_digest city school_a || fail "school A did not sync"
kill -USR2 "$(cat "$T/proxy_a.pid")"
"$CARDCTL" -d "$T/city" card validate 3100000001 >/dev/null
wait_until 10 sh -c "grep -q 'frame rejected' '$T/city.log' '$T/school_a.log'" ||
	fail "no corrupted frame was rejected"
grep -h 'frame rejected' "$T/city.log" "$T/school_a.log" | head -n 2 | cut -c 25-
wait_until 3 sh -c "[ \$(sed -n 's/^corrupted //p' '$T/proxy_a.stats') -gt 0 ]" ||
	fail "the proxy corrupted nothing"
expect_exit 0 "$CARDCTL" -d "$T/school_a" verify
expect_exit 0 "$CARDCTL" -d "$T/city" verify
kill -USR1 "$(cat "$T/proxy_a.pid")"
wait_until 20 same_digest city school_a || fail "no recovery after the corruption stopped"
echo "corrupted frames rejected, nothing applied; recovered once clean"

say "drops, delays, cuts and corruption on both links, writes everywhere"
proxy_start proxy_b "$CITY" --drop 0.3 --delay 5:5 --cut 0.08 --corrupt 0.04 \
	--seed 23 --faults-for 9
node_conf school_b none "$(proxy_addr proxy_b)"
node_start school_b
# Proxy A: the same kind of faults from now on (SIGUSR2 resumes them).
kill -TERM "$(cat "$T/proxy_a.pid")"
proxy_start proxy_a2 "$CITY" --drop 0.3 --delay 5:5 --cut 0.08 --corrupt 0.04 \
	--seed 29 --faults-for 9
node_conf school_a none "$(proxy_addr proxy_a2)"
kill -HUP "$(cat "$T/school_a.pid")"
t_end=$(( $(now_ms) + 7000 ))
i=0
while [ "$(now_ms)" -lt "$t_end" ]; do
	i=$((i + 1))
	edu_b=$(printf '110101200%05d' "$i")
	"$CARDCTL" -d "$T/city" student put "$edu_b" --name "学生$i" \
		--school 110101-0002 >/dev/null
	"$CARDCTL" -d "$T/city" card issue "$(printf '32%08d' "$i")" \
		--student "$edu_b" --uid "$(printf '05%06X' "$i")" >/dev/null
	edu_a=$(printf '110101100%05d' "$i")
	"$CARDCTL" -d "$T/school_a" student put "$edu_a" --name "甲$i" \
		--school 110101-0001 >/dev/null
	if [ $((i % 3)) -eq 0 ]; then
		"$CARDCTL" -d "$T/school_b" card lost "$(printf '32%08d' $((i - 2)))" \
			>/dev/null 2>&1 || true
	fi
	sleep 0.2
done
echo "$i rounds of writes during the faults"
faults=0
for p in proxy_b proxy_a2; do
	for k in dropped cut corrupted; do
		faults=$((faults + $(stat_of "$p" "$k")))
	done
done
echo "faults injected so far: $faults (stats every 200 ms)"
[ "$faults" -gt 0 ] || fail "the proxies injected no fault"
wait_until 90 same_digest city school_a school_b ||
	fail "the three nodes did not converge after the faults stopped"
for p in proxy_b proxy_a2; do
	echo "$p: $(stat_of "$p" connections) connections, $(stat_of "$p" dropped) dropped," \
		"$(stat_of "$p" cut) cut, $(stat_of "$p" corrupted) corrupted"
done
for n in city school_a school_b; do
	expect_exit 0 "$CARDCTL" -d "$T/$n" verify
done
lost=$("$CARDCTL" -d "$T/city" --json digest | json_num cards /dev/stdin)
echo "converged: one digest, $lost cards, every replica verifies"

for n in school_a school_b city; do
	node_stop "$n"
done
echo "daemon_faults: ok"
