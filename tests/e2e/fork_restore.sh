#!/bin/sh
# fork_restore.sh — a node restored from an old copy of its data dir.
#
# District node D writes two students; a copy of its data dir taken after
# the first is "restored" on another machine and writes a different second
# entry: two entries at one (origin, seq).  The city keeps both as evidence,
# reports the fork with both entries, and holds D's later entries; the
# restored copy, once it sees D's real log, refuses to write.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
cd "$T"

tick
ROOT_PUB=$("$CARDCTL" root init --out root.key)
ctl secret init --out deploy.secret >/dev/null
ctl -d city init --name city --role city --scope 110000 \
	--root-pub "$ROOT_PUB" --secret deploy.secret --root root.key >/dev/null
ctl -d dist init --name chaoyang --role district --scope 110105 \
	--root-pub "$ROOT_PUB" --secret deploy.secret --root root.key >/dev/null

ctl -d dist student put 30000001 --name 甲 --school 110105-0001 >/dev/null
cp -a dist restored
ctl -d dist student put 30000002 --name 乙 --school 110105-0001 >/dev/null
ctl -d restored student put 30000003 --name 丙 --school 110105-0001 >/dev/null

ctl -d dist export --out dist.bundle >/dev/null
ctl -d restored export --out restored.bundle >/dev/null
ctl -d city import dist.bundle >/dev/null

# The second log is evidence of a fork: exit 5, nothing of it applied.
tick
expect_exit 5 "$CARDCTL" -d city import restored.bundle
assert_grep 'fork' "$ERR" "import names the fork"
tick
expect_exit 0 "$CARDCTL" -d city status
assert_grep '^forks +1' "$OUT" "status counts the fork"
assert_grep 'held +student.put 30000002' "$OUT" "status shows the entry held"
assert_grep 'other +student.put 30000003' "$OUT" "status shows the other entry"
tick
expect_exit 0 "$CARDCTL" --json -d city status
json_ok "$OUT"
assert_grep '"key": "30000003"' "$OUT" "status JSON carries the other entry"
tick
expect_exit 3 "$CARDCTL" -d city student show 30000003

# The forked origin's later entries are held.
ctl -d dist student put 30000004 --name 丁 --school 110105-0001 >/dev/null
rm dist.bundle
ctl -d dist export --out dist.bundle >/dev/null
tick
expect_exit 5 "$CARDCTL" -d city import dist.bundle
tick
expect_exit 3 "$CARDCTL" -d city student show 30000004

# The restored copy sees its own real log: it must not write any more.
tick
expect_exit 5 "$CARDCTL" -d restored import dist.bundle
tick
expect_exit 4 "$CARDCTL" -d restored student put 30000005 --name 戊 --school 110105-0001
assert_grep '[Bb]ehind|fork|re-key' "$ERR" "the refusal says why"

# Every replica still verifies.
for d in city dist restored; do
	tick
	expect_exit 0 "$CARDCTL" -d "$d" verify
done
echo "fork_restore: ok"
