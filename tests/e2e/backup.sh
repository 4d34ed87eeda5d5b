#!/bin/sh
# backup.sh — `cardctl backup` of a running node, and the restore procedure
# of docs/operations.md.
#
#     src (daemon) ← cardctl writes in a loop, cardctl backup meanwhile
#     restored: a NEW node (own identity, certificate) that merges the
#               backup, then syncs the rest from src
#
# The backup opens as a copied data dir (diff, merge), verifies once
# merged, holds what src held at some moment during the copy, and holds no
# identity key and no deployment secret.  Restored as a new node, it
# catches up by sync; the old identity is then revoked: it can neither
# connect nor write, and every replica verifies.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

entries_of() {
	"$CARDCTL" --json -d "$T/$1" digest | json_num entries /dev/stdin
}

deploy
node_init src school 110105-0001
# Some volume first, so that the copy takes a moment.
i=0
while [ $i -lt 150 ]; do
	i=$((i + 1))
	"$CARDCTL" -d "$T/src" student put "2025$(printf %05d $i)" --name "学生$i" \
		--school 110105-0001 >/dev/null || fail "student put $i"
done
node_conf src 0
node_start src

say "backup while cardctl writes to the running node"
(
	j=0
	while [ $j -lt 200 ]; do
		j=$((j + 1))
		"$CARDCTL" -d "$T/src" student put "2026$(printf %05d $j)" \
			--name "新$j" --school 110105-0001 >/dev/null ||
			{ echo "writer: put $j failed" >&2; exit 1; }
		[ $j -ne 20 ] || touch "$T/writer.started"
	done
) 2>"$T/writer.err" &
writer=$!
PIDS_="$PIDS_ $writer"
wait_until 30 test -f "$T/writer.started" || fail "the writer did not start"
before=$(entries_of src)
expect_exit 0 "$CARDCTL" -d "$T/src" --json backup "$T/bk"
json_ok "$OUT"
after=$(entries_of src)
cat "$OUT"
bk_entries=$(json_num entries "$OUT")
bk_bytes=$(json_num bytes "$OUT")
assert_eq "$T/bk" "$(json_str path "$OUT")" "the path reported"
[ "$bk_entries" -ge "$before" ] && [ "$bk_entries" -le "$after" ] ||
	fail "the backup holds $bk_entries entries; src held $before before, $after after"
[ "$bk_bytes" -eq "$(stat -c %s "$T/bk/data.mdb")" ] || fail "bytes reported"
wait "$writer" || { cat "$T/writer.err"; fail "the writer failed"; }
total=$(entries_of src)
assert_eq 350 "$total" "every write of the loop is in src"
echo "backup: $bk_entries entries ($before before, $after after), $bk_bytes bytes"

say "what the backup holds"
assert_eq "data.mdb root.pub" "$(ls "$T/bk" | tr '\n' ' ' | sed 's/ $//')" \
	"only the database and the root public key"
[ ! -e "$T/bk/identity.key" ] && [ ! -e "$T/bk/secret" ] ||
	fail "a key in the backup"
assert_eq 700 "$(stat -c %a "$T/bk")" "the backup dir mode"
assert_eq 600 "$(stat -c %a "$T/bk/data.mdb")" "the database's mode"
# Not a node's data dir: commands on one say what it is.
expect_exit 1 "$CARDCTL" -d "$T/bk" digest
assert_grep 'no identity key and no deployment secret: a backup' "$ERR" \
	"digest on a backup"
# A copied data dir: diff opens it (src has moved on since: exit 5).
expect_exit 5 "$CARDCTL" -d "$T/src" diff "$T/bk"
assert_grep 'we lack|they lack' "$OUT" "diff against the backup"

say "bad targets"
expect_exit 1 "$CARDCTL" -d "$T/src" backup "$T/bk"
assert_grep 'exists and is not an empty directory' "$ERR" "a non-empty dir"
: >"$T/afile"
expect_exit 1 "$CARDCTL" -d "$T/src" backup "$T/afile"
expect_exit 1 "$CARDCTL" -d "$T/src" backup "$T/no/such/parent"
assert_grep 'cannot create' "$ERR" "a missing parent"
[ ! -e "$T/no" ] || fail "something left behind"
expect_exit 2 "$CARDCTL" -d "$T/src" backup
expect_exit 2 "$CARDCTL" -d "$T/src" backup a b
mkdir -m 755 "$T/empty"
expect_exit 0 "$CARDCTL" -d "$T/src" backup "$T/empty"
assert_eq 700 "$(stat -c %a "$T/empty")" "an empty dir is accepted, set 0700"
expect_exit 0 "$CARDCTL" -d "$T/src" backup --help
assert_grep 'neither the identity key nor the deployment secret' "$OUT" "help"

say "restore: a new node merges the backup"
node_init restored school 110105-0001
old=$("$CARDCTL" --json -d "$T/src" id | json_str node /dev/stdin)
new=$("$CARDCTL" --json -d "$T/restored" id | json_str node /dev/stdin)
[ "$old" != "$new" ] || fail "the restored node has the old identity"
expect_exit 0 "$CARDCTL" -d "$T/restored" --json merge "$T/bk"
json_ok "$OUT"
expect_exit 0 "$CARDCTL" -d "$T/restored" verify
assert_eq "$bk_entries" "$(entries_of restored)" "the restored node holds the backup"
expect_exit 0 "$CARDCTL" -d "$T/restored" diff "$T/bk"
assert_grep 'the replicas are identical' "$OUT" "restored = backup"
echo "restored node $(echo "$new" | cut -c 1-16)… holds the $bk_entries entries of the backup"

say "the rest comes by sync; the old identity is revoked"
node_conf restored 0 "$(node_addr src)"
node_start restored
wait_until 30 same_digest src restored || fail "the restored node did not catch up"
head=$("$CARDCTL" --json -d "$T/restored" status |
	sed -n "s/.*\"$old\": \\([0-9][0-9]*\\).*/\\1/p" | head -n 1)
assert_eq 350 "$head" "the old node's head as the network holds it"
"$CARDCTL" revoke --root "$T/root.key" --node "$old" --after-seq "$head" \
	--out "$T/old.rev" >/dev/null || fail "revoke"
expect_exit 0 "$CARDCTL" -d "$T/restored" revoke install "$T/old.rev"
"$CARDCTL" -d "$T/restored" student put 202700001 --name 后 \
	--school 110105-0001 >/dev/null || fail "the new node cannot write"
# The old identity may no longer connect: its network is the new node's now.
wait_until 10 grep -q 'revoked' "$T/restored.log" ||
	fail "the restored node still talks to the revoked identity"
node_stop restored
node_stop src
# The old data dir, once it holds its revocation, may write no more.
"$CARDCTL" -d "$T/src" revoke install "$T/old.rev" >/dev/null ||
	fail "revoke install at the old node"
expect_exit 4 "$CARDCTL" -d "$T/src" student put 202700002 --name 旧 \
	--school 110105-0001
assert_grep 'revoked' "$ERR" "the old identity is revoked"
for n in src restored; do
	expect_exit 0 "$CARDCTL" -d "$T/$n" verify
done
echo "backup: ok"
