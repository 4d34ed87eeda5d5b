#!/bin/sh
# daemon_metrics.sh — the Prometheus textfile metrics of cardnode
# (`[node] metrics_file`, `metrics_interval`).
#
#     city ═══ school (gate station on the simulated reader, metrics)
#
# The school's metrics file appears, is valid exposition format (every line
# checked, every sample after its # TYPE), counts one connected peer, the
# taps by decision, and the entries applied grows when the city writes.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

M=$T/metrics/school.prom

# metric NAME[{LABELS}]: its value in the school's file.
metric() {
	awk -v k="$1" '$1 == k { print $2 }' "$M"
}

# valid FILE: every line is a # HELP, a # TYPE or a sample of a metric
# typed before it; every name and label as Prometheus wants them.
valid() {
	awk '
	/^# HELP cardnode_[a-z_]+ [^\\]+$/ { next }
	/^# TYPE cardnode_[a-z_]+ (counter|gauge)$/ {
		if ($3 in typed) { print "typed twice: " $0; bad = 1 }
		typed[$3] = $4; next
	}
	/^cardnode_[a-z_]+(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? ([0-9]+(\.[0-9]+)?|NaN)$/ {
		name = $1; sub(/\{.*/, "", name)
		if (!(name in typed)) { print "no # TYPE before: " $0; bad = 1 }
		if (typed[name] == "counter" && name !~ /_total$/) {
			print "a counter not named _total: " $0; bad = 1
		}
		n++; next
	}
	{ print "not exposition format: " $0; bad = 1 }
	END { if (bad || n == 0) exit 1 }' "$1"
}

deploy
node_init city city 110000
node_init school school 110105-0001
node_conf city 0
node_start city
mkdir -p "$T/metrics"
node_conf school none "$(node_addr city)"
sed -i "/^\[peers\]/i metrics_file = $M\nmetrics_interval = 1" "$T/school.conf"
cat >>"$T/school.conf" <<EOF
[reader]
device = sim:$T/reader.sock
mode = gate
name = gate-1
EOF
node_start school

say "the file appears, valid, mode 0644"
wait_until 10 test -f "$M" || fail "no metrics file"
valid "$M" || fail "the metrics file is not valid exposition format"
assert_eq 644 "$(stat -c %a "$M")" "the file's mode"
assert_eq 1 "$(metric 'cardnode_build_info{version="0.1.0"}')" "build_info"
assert_eq 1 "$(metric cardnode_peers_configured)" "peers_configured"
for d in accept unknown cancelled replaced lost frozen expired not_validated \
	unregistered ambiguous forged; do
	assert_eq 0 "$(metric "cardnode_taps_total{decision=\"$d\"}")" "taps $d before any tap"
done
wait_until 10 sh -c "awk '\$1 == \"cardnode_peers_connected\" && \$2 == 1' '$M' | grep -q ." ||
	fail "peers_connected is not 1: $(metric cardnode_peers_connected)"
# The city writes its watermark every second: the school has one.
wait_until 10 sh -c "awk '\$1 == \"cardnode_watermark_age_seconds\" && \$2 != \"NaN\"' '$M' | grep -q ." ||
	fail "no watermark age"
ls "$T/metrics" | grep -v '^school.prom$' && fail "a temporary file left"
cat "$M"

say "entries applied grow with writes at the peer"
applied0=$(metric cardnode_entries_applied_total)
students0=$(metric cardnode_replica_students)
for i in 1 2 3 4 5; do
	"$CARDCTL" -d "$T/city" student put "2025000$i" --name "学生$i" \
		--school 110105-0001 >/dev/null
	"$CARDCTL" -d "$T/city" card issue "C000$i" --student "2025000$i" \
		--uid "0400000$i" >/dev/null
done
wait_until 10 same_digest city school || fail "the school did not sync"
wait_until 5 sh -c "[ \$(awk '\$1 == \"cardnode_replica_students\" { print \$2 }' '$M') -eq $((students0 + 5)) ]" ||
	fail "replica_students did not reach $((students0 + 5))"
applied=$(metric cardnode_entries_applied_total)
[ "$applied" -ge $((applied0 + 10)) ] ||
	fail "entries_applied_total went from $applied0 to $applied (10 entries written)"
# The city's watermarks keep adding entries (one a second here, in step
# with the metrics file): the metric written after a first reading of the
# replica's count holds at least that many, and at most what a later
# reading shows.
entries_now() {
	"$CARDCTL" --json -d "$T/school" digest | json_num entries /dev/stdin
}
e1=$(entries_now)
sleep 1.5
m=$(metric cardnode_replica_entries)
e2=$(entries_now)
[ "$e1" -le "$m" ] && [ "$m" -le "$e2" ] ||
	fail "replica_entries is $m, the replica held $e1 then $e2 entries"
assert_eq 0 "$(metric cardnode_forks)" "forks"
echo "entries_applied_total $applied0 -> $applied; replica_entries $m ($e1..$e2)"

say "taps by decision"
"$CARDCTL" -d "$T/city" card lost C0005 >/dev/null
wait_until 10 same_digest city school || fail "the loss did not reach the school"
for i in 1 2 3; do
	expect_exit 0 "$CARDCTL" -d "$T/school" tap --uid "0400000$i"
done
expect_exit 3 "$CARDCTL" -d "$T/school" tap --uid 04FFFFFF
expect_exit 4 "$CARDCTL" -d "$T/school" tap --uid 04000005
wait_until 5 sh -c "awk '\$1 == \"cardnode_taps_total{decision=\\\"accept\\\"}\" && \$2 == 3' '$M' | grep -q ." ||
	fail "taps accept is not 3: $(metric 'cardnode_taps_total{decision="accept"}')"
assert_eq 1 "$(metric 'cardnode_taps_total{decision="unknown"}')" "taps unknown"
assert_eq 1 "$(metric 'cardnode_taps_total{decision="lost"}')" "taps lost"
valid "$M" || fail "the metrics file is not valid exposition format"
grep '^cardnode_taps_total' "$M"

say "the keys are checked"
sed -i "s|^metrics_interval = 1|metrics_interval = 0|" "$T/school.conf"
expect_exit 2 "$CARDNODE" -c "$T/school.conf" --check-config
assert_grep "school.conf:[0-9]+: metrics_interval '0' is not 1–3600 seconds" "$ERR" "interval"
sed -i "s|^metrics_interval = 0|metrics_interval = 1|; s|^metrics_file = .*|metrics_file = school.prom|" \
	"$T/school.conf"
expect_exit 2 "$CARDNODE" -c "$T/school.conf" --check-config
assert_grep "school.conf:[0-9]+: metrics_file 'school.prom' must be an absolute file path" \
	"$ERR" "a relative path"

node_stop school
node_stop city
[ -f "$M" ] || fail "the file was removed at the stop"
echo "daemon_metrics: ok"
