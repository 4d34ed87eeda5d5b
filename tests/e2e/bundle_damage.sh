#!/bin/sh
# bundle_damage.sh — a bundle truncated at several points or with a byte
# flipped: import exits 5 and says so, applies only what verifies, the
# replica stays consistent (verify agrees with digest), and the good bundle
# afterwards brings it to the source's state.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
cd "$T"

say "a city node with some students and cards, and its bundle"
ROOT_PUB=$(tick; "$CARDCTL" root init --out root.key)
ctl secret init --out deploy.secret >/dev/null
ctl -d city init --name City --role city --scope 110000 \
	--root-pub "$ROOT_PUB" --secret deploy.secret --root root.key >/dev/null
i=1
while [ $i -le 12 ]; do
	id=$(printf '202500%02d' $i)
	ctl -d city student put "$id" --name "Student $i" \
		--school 110105-000$((i % 3 + 1)) --grade $((i % 6 + 1)) >/dev/null
	ctl -d city card issue "C$id" --student "$id" \
		--uid "$(printf '04%06X' $i)" >/dev/null
	i=$((i + 1))
done
ctl -d city card lost C20250003 >/dev/null
ctl -d city card freeze C20250007 --reason test >/dev/null
ctl -d city export --out good.bundle
SIZE=$(wc -c <good.bundle)
SRC_DIGEST=$(ctl -d city digest | head -n 1)
TOTAL=26
echo "bundle of $SIZE bytes, $TOTAL entries, digest $SRC_DIGEST"

n=0
# new_receiver: a fresh reader node that has nothing yet.
new_receiver() {
	n=$((n + 1))
	R=recv$n
	ctl -d $R init --name "Reader $n" --role reader --scope gate-$n \
		--root-pub "$ROOT_PUB" --secret deploy.secret >/dev/null
}

# check_consistent: verify exits 0 and agrees with digest.
check_consistent() {
	expect_exit 0 ctl --json -d "$R" verify
	v=$(json_str digest "$OUT")
	expect_exit 0 ctl --json -d "$R" digest
	d=$(json_str digest "$OUT")
	assert_eq "$d" "$v" "$1: digest and verify agree"
}

# log_is_prefix: the receiver's log is the start of the city's, entry for
# entry (the city is the only origin here); an altered entry that had been
# applied would show, and would also make then_good fail with a fork.
log_is_prefix() {
	expect_exit 0 ctl --json -d city log
	grep -E '^ +"[a-z]+": ' "$OUT" | grep -Ev '"(signed|entries)":' >city.log || true
	expect_exit 0 ctl --json -d "$R" log
	grep -E '^ +"[a-z]+": ' "$OUT" | grep -Ev '"(signed|entries)":' >recv.log || true
	head -n "$(wc -l <recv.log)" city.log >city.prefix
	if ! cmp -s city.prefix recv.log; then
		diff city.prefix recv.log >&2 || true
		fail "$1: the receiver's log is not a prefix of the city's"
	fi
}

# then_good: the undamaged bundle completes the receiver.
then_good() {
	expect_exit 0 ctl --json -d "$R" import good.bundle
	expect_exit 0 ctl -d "$R" digest
	assert_eq "$SRC_DIGEST" "$(head -n 1 "$OUT")" "$1: digest after the good bundle"
	check_consistent "$1 then good"
}

say "truncated bundles"
for cut in $((SIZE / 4)) $((SIZE / 2)) $((SIZE * 3 / 4)) $((SIZE - 100)) $((SIZE - 1)); do
	new_receiver
	head -c "$cut" good.bundle >cut.bundle
	expect_exit 5 ctl --json -d "$R" import cut.bundle
	json_ok "$OUT"
	cp "$OUT" report.json
	applied=$(json_num applied report.json)
	assert_grep '"complete": false' report.json "cut at $cut: complete"
	assert_no_grep '"problem": null' report.json "cut at $cut: a problem is named"
	assert_grep 'only in part' "$ERR" "cut at $cut: message"
	[ "$applied" -le $TOTAL ] || fail "cut at $cut: applied $applied > $TOTAL"
	# What was applied is exactly what the replica now holds.
	expect_exit 0 ctl --json -d "$R" digest
	held=$(json_num entries "$OUT")
	assert_eq "$applied" "$held" "cut at $cut: entries held = entries applied"
	check_consistent "cut at $cut"
	log_is_prefix "cut at $cut"
	echo "cut at $cut of $SIZE bytes: exit 5, applied $applied of $TOTAL"
	then_good "cut at $cut"
done

say "a bundle cut inside its header applies nothing"
new_receiver
head -c 10 good.bundle >head.bundle
set +e
ctl -d "$R" import head.bundle >"$OUT" 2>"$ERR"
rc=$?
set -e
[ $rc -eq 5 ] || [ $rc -eq 1 ] || { show_output; fail "cut at 10: exit $rc, want 5 or 1"; }
test -s "$ERR" || fail "cut at 10: no message"
expect_exit 0 ctl --json -d "$R" digest
assert_eq 0 "$(json_num entries "$OUT")" "cut at 10: nothing held"
check_consistent "cut at 10"

say "a byte flipped in the middle"
# The layout is fixed (fixed clock, fixed data), so these offsets always hit
# the same places; SIZE/3 lands in the signature of the city's entry 8,
# which entry 9's signature still covers through the hash chain: all 26
# entries verify, and the replica must not keep the damaged signature.
for off in $((SIZE / 2)) $((SIZE / 3)) $((SIZE * 2 / 3)); do
	new_receiver
	cp good.bundle flip.bundle
	old=$(od -An -tu1 -j "$off" -N1 flip.bundle | tr -d ' ')
	new=$(( (old + 1) % 256 ))
	# shellcheck disable=SC2059 # the format is the escaped byte
	printf "\\$(printf %03o "$new")" |
		dd of=flip.bundle bs=1 seek="$off" conv=notrunc 2>/dev/null
	cmp -s good.bundle flip.bundle && fail "byte at $off not flipped"
	expect_exit 5 ctl --json -d "$R" import flip.bundle
	json_ok "$OUT"
	cp "$OUT" report.json
	applied=$(json_num applied report.json)
	assert_no_grep '"problem": null' report.json "flip at $off: a problem is named"
	assert_grep 'only in part' "$ERR" "flip at $off: message"
	# A flip inside the signature of an entry that a later signature
	# also covers (through the hash chain) may leave every entry
	# verifiable; what counts is that nothing altered is applied.
	[ "$applied" -le $TOTAL ] || fail "flip at $off: applied $applied > $TOTAL"
	log_is_prefix "flip at $off"
	check_consistent "flip at $off"
	echo "byte flipped at $off: exit 5, applied $applied of $TOTAL"
	then_good "flip at $off"
done

say "the trailer's signature damaged: entries verify by themselves"
new_receiver
cp good.bundle tail.bundle
off=$((SIZE - 5))
old=$(od -An -tu1 -j "$off" -N1 tail.bundle | tr -d ' ')
# shellcheck disable=SC2059
printf "\\$(printf %03o $(( (old + 1) % 256 )))" |
	dd of=tail.bundle bs=1 seek="$off" conv=notrunc 2>/dev/null
expect_exit 5 ctl --json -d "$R" import tail.bundle
assert_grep '"trailer_ok": false' "$OUT" "damaged trailer"
assert_eq $TOTAL "$(json_num applied "$OUT")" "damaged trailer: every entry verified"
check_consistent "damaged trailer"

echo
echo "bundle_damage: ok"
