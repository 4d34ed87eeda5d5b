#!/bin/sh
# cli_basics.sh — the cardctl surface scripts rely on: usage, --help on
# every command, exit codes, messages that name the bad argument, JSON
# output that is one document.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
cd "$T"

say "bare cardctl: usage on stderr, exit 2"
expect_exit 2 "$CARDCTL"
assert_grep '^Usage: cardctl' "$ERR" "bare cardctl stderr"
test ! -s "$OUT" || fail "bare cardctl wrote to stdout"

say "--help, help and --version: exit 0 on stdout"
expect_exit 0 "$CARDCTL" --help
assert_grep '^Usage: cardctl' "$OUT" "cardctl --help"
assert_grep 'Exit codes' "$OUT" "cardctl --help"
for code in 0 1 2 3 4 5; do
	assert_grep "^  $code  " "$OUT" "exit code $code in --help"
done
assert_grep 'CARDNODE_ACTOR.*\$USER|\$USER.*"cardctl"' "$OUT" "actor default chain in --help"
assert_grep 'else \$USER, else "cardctl"' "$OUT" "actor chain ends in \"cardctl\""
assert_grep 'CARDNODE_MAP_SIZE +tests only' "$OUT" "CARDNODE_MAP_SIZE is for tests"
assert_grep 'CARDNODE_NOW_MS +tests only' "$OUT" "CARDNODE_NOW_MS is for tests"
assert_grep '^  1  failure.*verify' "$OUT" "verify's disagreement is exit 1"
assert_grep '^  4  refused or unauthorized' "$OUT" "4 is refused/unauthorized"
expect_exit 0 "$CARDCTL" -h
expect_exit 0 "$CARDCTL" help
expect_exit 0 "$CARDCTL" --version
assert_grep '^cardctl [0-9]+\.[0-9]+\.[0-9]+' "$OUT" "cardctl --version"

say "unknown command and unknown global option: exit 2, named"
expect_exit 2 "$CARDCTL" frobnicate
assert_grep "'frobnicate'" "$ERR" "unknown command"
expect_exit 2 "$CARDCTL" --frob id
assert_grep "--frob" "$ERR" "unknown global option"
expect_exit 2 "$CARDCTL" card
assert_grep 'needs a subcommand' "$ERR" "card without subcommand"
expect_exit 2 "$CARDCTL" card explode C1
assert_grep "'card explode'" "$ERR" "unknown card subcommand"
expect_exit 2 "$CARDCTL" -d
assert_grep "'-d' needs a value" "$ERR" "-d without a value"

say "--help on every command: exit 0, synopsis on stdout, no data dir needed"
export CARDNODE_DATA="$T/no-such-dir"
for cmd in "root init" "secret init" init id "cert issue" "cert install" \
	revoke "revoke install" "student put" "student transfer" \
	"student show" "student find" "card issue" "card lost" "card found" \
	"card freeze" "card unfreeze" "card cancel" "card validate" \
	"card register" "card show" check log export import merge diff \
	verify digest hotlist status sync; do
	# shellcheck disable=SC2086 # split the command words
	expect_exit 0 "$CARDCTL" $cmd --help
	assert_grep "^Usage: cardctl .*$cmd" "$OUT" "'$cmd --help'"
	test ! -s "$ERR" || { show_output; fail "'$cmd --help' wrote to stderr"; }
done
for group in root secret cert student card; do
	expect_exit 0 "$CARDCTL" $group --help
	assert_grep '^Subcommands:' "$OUT" "'$group --help'"
done
expect_exit 0 "$CARDCTL" status --help
assert_grep 'DATA/daemon.status' "$OUT" "status --help: where the peers come from"
assert_grep 'watermark_age_s \(null: none applied\)' "$OUT" "status --help: JSON keys"
for sub in validate register; do
	expect_exit 0 "$CARDCTL" card $sub --help
	assert_grep '^Profile-independent' "$OUT" "card $sub --help: profiles"
done
# --help between a group and its subcommand is the subcommand's.
expect_exit 0 "$CARDCTL" card --help show
assert_grep '^Usage: cardctl card show' "$OUT" "card --help show"
unset CARDNODE_DATA

say "bad arguments: exit 2 with a message naming the argument"
expect_exit 2 "$CARDCTL" -d x card issue C1 --student 20250001 --uid XYZ
assert_grep "'XYZ'" "$ERR" "bad --uid"
expect_exit 2 "$CARDCTL" -d x card issue C1 --student 20250001 --uid 0102
assert_grep "'0102'" "$ERR" "2-byte --uid"
expect_exit 2 "$CARDCTL" -d x card issue c-1 --student 20250001 --uid 01020304
assert_grep "'c-1'" "$ERR" "bad card number"
expect_exit 2 "$CARDCTL" -d x card issue C1 --uid 01020304
assert_grep "--student" "$ERR" "card issue without --student"
expect_exit 2 "$CARDCTL" -d x card issue C1 --student 1 --uid 01020304 --kind gold
assert_grep "'gold'" "$ERR" "bad --kind"
expect_exit 2 "$CARDCTL" -d x card lost
assert_grep 'missing argument' "$ERR" "card lost without CARD"
expect_exit 2 "$CARDCTL" -d x card lost C1 C2
assert_grep "'C2'" "$ERR" "card lost with two cards"
expect_exit 2 "$CARDCTL" -d x card show C1 --bogus
assert_grep "'--bogus'" "$ERR" "unknown option"
expect_exit 2 "$CARDCTL" -d x card validate C1 --date 2025-02-30
assert_grep "'2025-02-30'" "$ERR" "bad --date"
expect_exit 2 "$CARDCTL" -d x card register C1 --term 20253
assert_grep "'20253'" "$ERR" "bad --term"
expect_exit 2 "$CARDCTL" -d x card register C1 --term 20251 --date 2025-03-01
assert_grep 'not both' "$ERR" "--term with --date"
expect_exit 2 "$CARDCTL" -d x check
assert_grep '--uid' "$ERR" "check without --uid/--card"
expect_exit 2 "$CARDCTL" -d x check --uid 01020304 --card C1
expect_exit 2 "$CARDCTL" -d x check --card C1 --at 2025-13-01
assert_grep "'2025-13-01'" "$ERR" "bad --at"
expect_exit 2 "$CARDCTL" -d x check --card C1 --at 2025-03-01T25:00
assert_grep "'2025-03-01T25:00'" "$ERR" "bad --at time"
expect_exit 2 "$CARDCTL" -d x check --card
assert_grep "'--card' needs a value" "$ERR" "--card without a value"
# Dates outside 2000-01-01 … 2199-12-31 are refused when parsed, naming
# the option, not later as "malformed input".
expect_exit 2 "$CARDCTL" -d x student put 20250001 --name X --grad 1999-07-01
assert_grep "--grad '1999-07-01' is out of range.*2000-01-01" "$ERR" "--grad before 2000"
expect_exit 2 "$CARDCTL" -d x card issue C1 --student 1 --uid 01020304 --expires 2200-01-01
assert_grep "--expires '2200-01-01' is out of range" "$ERR" "--expires after 2199"
expect_exit 2 "$CARDCTL" -d x card validate C1 --date 1999-12-31
assert_grep "--date '1999-12-31' is out of range" "$ERR" "--date before 2000"
expect_exit 2 "$CARDCTL" -d x check --card C1 --at 1999-01-01T10:00
assert_grep "--at '1999-01-01T10:00' is out of range" "$ERR" "--at before 2000"
expect_exit 2 "$CARDCTL" -d x card register C1 --date 2000-01-15
assert_grep "--date '2000-01-15' falls in term 19992" "$ERR" "register --date in term 19992"
expect_exit 2 "$CARDCTL" -d x student put 'bad id!' --name X
assert_grep "'bad id!'" "$ERR" "bad edu_id"
expect_exit 2 "$CARDCTL" -d x student put 20250001 --school 110105-0001 --grade 13
assert_grep "'13'" "$ERR" "bad --grade"
expect_exit 2 "$CARDCTL" -d x student put 20250001 --school 1101050001
assert_grep "'1101050001'" "$ERR" "bad --school"
expect_exit 2 "$CARDCTL" -d x student put 20250001 --stage college
assert_grep "'college'" "$ERR" "bad --stage"
expect_exit 2 "$CARDCTL" -d x student put 20250001
assert_grep 'nothing to put' "$ERR" "student put without fields"
expect_exit 2 "$CARDCTL" -d x student put 20250001 --id-number 12ab-99
assert_grep '--id-number' "$ERR" "bad --id-number"
assert_no_grep '12ab-99' "$ERR" "the bad ID number is not echoed"
expect_exit 2 "$CARDCTL" -d x student put 20250001 --name X --actor \
	"$(printf '%070d' 0)"
assert_grep 'actor' "$ERR" "too long --actor"
expect_exit 2 "$CARDCTL" -d x student transfer 20250001
assert_grep '--to' "$ERR" "transfer without --to"
expect_exit 2 "$CARDCTL" -d x log --limit abc
assert_grep "'abc'" "$ERR" "bad --limit"
expect_exit 2 "$CARDCTL" -d x log --card C1 --refused
assert_grep 'at most one' "$ERR" "log with two filters"
expect_exit 2 "$CARDCTL" -d x hotlist --format xml
assert_grep "'xml'" "$ERR" "bad --format"
expect_exit 2 "$CARDCTL" -d x export
assert_grep '--out' "$ERR" "export without --out"
expect_exit 2 "$CARDCTL" init --role school --scope 110105-0001
assert_grep '--name' "$ERR" "init without --name"
expect_exit 2 "$CARDCTL" -d x init --name N --role king --scope 1 --root-pub 00 --secret s
assert_grep "'king'" "$ERR" "bad --role"
expect_exit 2 "$CARDCTL" -d x init --name N --role school --scope 110105 --root-pub 00 --secret s
assert_grep "'110105'" "$ERR" "school scope without school number"
expect_exit 2 "$CARDCTL" -d x init --name N --role city --scope 110000 --root-pub 00 --secret s
assert_grep "'00'" "$ERR" "short --root-pub"
expect_exit 2 "$CARDCTL" -d x revoke --root r --node 00 --after-seq 1 --out f
assert_grep "'00'" "$ERR" "bad --node"
expect_exit 2 "$CARDCTL" -d x revoke --root r --node "$(printf '%064d' 0)" --after-seq -1 --out f
assert_grep "'-1'" "$ERR" "bad --after-seq"

say "a data directory that is not there: exit 1, and the message says so"
expect_exit 1 "$CARDCTL" -d "$T/nope" id
assert_grep "$T/nope" "$ERR" "missing data dir"
assert_grep 'init' "$ERR" "missing data dir: what to do"
expect_exit 1 env CARDNODE_DATA="$T/nope2" "$CARDCTL" digest
assert_grep "$T/nope2" "$ERR" "missing \$CARDNODE_DATA dir"
expect_exit 1 "$CARDCTL" -d "$T/nope" card show C1

say "keys: root init and secret init refuse to overwrite"
expect_exit 0 ctl root init --out root.key
ROOT_PUB=$(cat "$OUT")
echo "$ROOT_PUB" | grep -Eq '^[0-9a-f]{64}$' || fail "root init printed '$ROOT_PUB'"
mode=$(stat -c %a root.key)
assert_eq 600 "$mode" "mode of the root key file"
expect_exit 1 ctl root init --out root.key
assert_grep 'root.key' "$ERR" "root init over an existing file"
expect_exit 0 ctl --json root init --out root2.key
json_ok "$OUT"
assert_grep '"root_pub": "[0-9a-f]{64}"' "$OUT" "root init --json"
ROOT2_PUB=$(json_str root_pub "$OUT")
expect_exit 0 ctl secret init --out deploy.secret
assert_eq 600 "$(stat -c %a deploy.secret)" "mode of the secret file"
expect_exit 1 ctl secret init --out deploy.secret

say "init: checks, identity, certificate"
expect_exit 1 ctl -d node init --name "District" --role district \
	--scope 110105 --root-pub "$ROOT_PUB" --secret deploy.secret \
	--root root2.key
assert_grep 'root2.key' "$ERR" "init --root of another key"
test ! -e node || fail "init with a mismatched root key created the data dir"
expect_exit 3 ctl -d node init --name "District" --role district \
	--scope 110105 --root-pub "$ROOT_PUB" --secret no-such.secret
assert_grep 'no-such.secret' "$ERR" "init with a missing secret"
expect_exit 0 ctl -d node init --name "District" --role district \
	--scope 110105 --root-pub "$ROOT_PUB" --secret deploy.secret
NODE=$(cat "$OUT")
echo "$NODE" | grep -Eq '^[0-9a-f]{64}$' || fail "init printed '$NODE'"
expect_exit 1 ctl -d node init --name "District" --role district \
	--scope 110105 --root-pub "$ROOT_PUB" --secret deploy.secret
assert_grep 'node' "$ERR" "init over an existing data dir"
expect_exit 0 ctl --json -d node id
json_ok "$OUT"
assert_eq "$NODE" "$(json_str node "$OUT")" "id --json node"
assert_grep '"role": "district"' "$OUT" "id --json role"
assert_grep '"scope": "110105"' "$OUT" "id --json scope"
assert_grep '"profile": "generic"' "$OUT" "id --json profile"
assert_grep '"has_cert": false' "$OUT" "id --json before cert install"
# Global options are also accepted after the command.
expect_exit 0 ctl id -d node --json
assert_grep '"has_cert": false' "$OUT" "id -d DIR --json"

say "cert issue / install; installing twice is fine"
expect_exit 0 ctl cert issue --root root.key --node "$NODE" --role district \
	--scope 110105 --name "District" --days 30 --out node.cert
expect_exit 1 ctl cert issue --root root.key --node "$NODE" --role district \
	--scope 110105 --name "District" --out node.cert
expect_exit 0 ctl cert issue --root root2.key --node "$NODE" --role district \
	--scope 110105 --name "District" --out other-root.cert
expect_exit 4 ctl -d node cert install other-root.cert
assert_grep 'root' "$ERR" "certificate of another root"
expect_exit 0 ctl -d node cert install node.cert
assert_grep 'installed' "$OUT" "cert install"
expect_exit 0 ctl -d node cert install node.cert
assert_grep 'already' "$OUT" "cert install twice"
expect_exit 3 ctl -d node cert install no-such.cert
printf 'not a certificate' >junk.cert
expect_exit 1 ctl -d node cert install junk.cert
assert_grep 'junk.cert' "$ERR" "cert install of junk"
expect_exit 0 ctl --json -d node id
assert_grep '"has_cert": true' "$OUT" "id --json after cert install"

say "not found: exit 3"
expect_exit 3 ctl -d node student show 99999999
assert_grep "'99999999'" "$ERR" "student show unknown"
expect_exit 3 ctl -d node card show NOCARD
assert_grep "'NOCARD'" "$ERR" "card show unknown"
expect_exit 3 ctl -d node card lost NOCARD
expect_exit 3 ctl -d node check --card NOCARD
assert_grep '^unknown' "$OUT" "check unknown card"
expect_exit 3 ctl -d node student find --id-number 110105201001010011
expect_exit 3 ctl -d node log --student 99999999
assert_grep "'99999999'" "$ERR" "log --student unknown"
expect_exit 3 ctl -d node student transfer 99999999 --to 110105-0002
assert_grep "'99999999'" "$ERR" "student transfer unknown"
expect_exit 3 ctl -d node card issue C9 --student 99999999 --uid 09090909
assert_grep "no student '99999999'" "$ERR" "card issue to an unknown student"
expect_exit 3 ctl -d node import no-such.bundle

say "student put: a new student needs --name and --school up front"
expect_exit 2 ctl -d node student put 20250001 --grade 4
assert_grep "needs --name and --school" "$ERR" "new student without --name and --school"
expect_exit 2 ctl -d node student put 20250001 --name "Li" --grade 4
assert_grep "needs --school$" "$ERR" "new student without --school"
expect_exit 2 ctl -d node student put 20250001 --school 110105-0001 --grade 4
assert_grep "needs --name$" "$ERR" "new student without --name"

say "writing, and JSON that is one document"
expect_exit 0 ctl -d node student put 20250001 --name "Li \"Wei\"" \
	--school 110105-0001 --grade 3 --class "2\\b" --id-number 110105201001010011
expect_exit 0 ctl --json -d node card issue C1 --student 20250001 --uid 01020304
json_ok "$OUT"
assert_grep '"seq": 2' "$OUT" "card issue --json seq"
expect_exit 4 ctl -d node card issue C1 --student 20250001 --uid 01020305
assert_grep 'already issued' "$ERR" "card issue of an issued number"
expect_exit 4 ctl -d node student put 20250002 --name "Other" --school 110106-0002
assert_grep 'refused' "$ERR" "student of another school"
expect_exit 0 ctl --json -d node student show 20250001
json_ok "$OUT"
assert_grep '"name": "Li \\"Wei\\""' "$OUT" "quotes escaped in JSON"
assert_grep '"id_number_on_file": true' "$OUT" "id number on file"
assert_no_grep '110105201001010011' "$OUT" "no clear ID number in show"
expect_exit 0 ctl -d node student find --id-number 110105201001010011
assert_grep '^20250001' "$OUT" "student find"
# A known student is updated without --name: the current name is kept.
expect_exit 0 ctl -d node student put 20250001 --grade 4
assert_grep '^student\.put 20250001: written' "$OUT" "student put without --name"
expect_exit 0 ctl --json -d node student show 20250001
assert_grep '"name": "Li \\"Wei\\""' "$OUT" "name kept by student put without --name"
assert_grep '"grade": 4' "$OUT" "grade updated without --name"
for c in "id" "status" "digest" "verify" "hotlist" "log" "log --refused" \
	"card show C1" "check --card C1" "student find --id-number 110105201001010011"; do
	# shellcheck disable=SC2086
	expect_exit 0 ctl --json -d node $c
	json_ok "$OUT"
done
expect_exit 0 ctl -d node hotlist --format cbor
test -s "$OUT" || fail "hotlist --format cbor wrote nothing"
expect_exit 2 ctl --json -d node hotlist --format csv

say "hotlist --since-vv: the cards changed since a version vector"
expect_exit 0 ctl -d node card issue C2 --student 20250001 --uid 01020305
tick
"$CARDCTL" --json -d node status >vv1.json
json_ok vv1.json
expect_exit 0 ctl -d node card lost C1
expect_exit 0 ctl -d node hotlist --since-vv vv1.json
assert_grep '^C1,20250001,lost,01020304$' "$OUT" "since-vv after the loss"
assert_no_grep '^C2,' "$OUT" "since-vv: C2 unchanged"
tick
"$CARDCTL" --json -d node status >vv2.json
expect_exit 0 ctl -d node card found C1
expect_exit 0 ctl -d node hotlist --since-vv vv2.json
assert_grep '^C1,20250001,active,01020304$' "$OUT" "since-vv: C1 found again"
expect_exit 0 ctl -d node hotlist
assert_no_grep '^C1,' "$OUT" "full hotlist after found"
expect_exit 3 ctl -d node hotlist --since-vv no-such.json

say "log: history of a card, refused entries, --limit"
expect_exit 0 ctl -d node log --card C1
assert_grep 'card\.issue +20250001 +C1 ' "$OUT" "log --card issue"
assert_grep 'card\.lost +20250001 +C1 ' "$OUT" "log --card lost"
assert_no_grep ' C2 ' "$OUT" "log --card C1 shows no C2"
expect_exit 0 ctl --json -d node log --limit 2
json_ok "$OUT"
assert_eq 2 "$(grep -c '"seq":' "$OUT")" "log --limit 2"

say "merge and diff with another replica's data directory"
expect_exit 0 ctl -d node2 init --name "District copy" --role district \
	--scope 110105 --root-pub "$ROOT_PUB" --secret deploy.secret --root root.key
expect_exit 5 ctl --json -d node2 diff node
json_ok "$OUT"
assert_grep '"identical": false' "$OUT" "diff before merge"
assert_grep '"we_lack": \[' "$OUT" "diff we_lack"
expect_exit 5 ctl -d node diff node2
assert_grep '^  they lack [0-9a-f]{8} #1-' "$OUT" "diff: they lack"
assert_no_grep 'lacks' "$OUT" "diff: no 'they lacks'"
expect_exit 2 ctl -d node2 merge node2
mkdir empty-dir
: >plain-file
for c in merge diff; do
	expect_exit 1 ctl -d node2 $c "$T/no-such-dir"
	assert_grep "'$T/no-such-dir' does not exist" "$ERR" "$c of a missing path"
	expect_exit 1 ctl -d node2 $c plain-file
	assert_grep "'plain-file' is not a directory" "$ERR" "$c of a plain file"
	expect_exit 1 ctl -d node2 $c empty-dir
	assert_grep "'empty-dir' is not a cardnode data directory \(no data\.mdb\)" \
		"$ERR" "$c of a directory without data.mdb"
done
expect_exit 0 ctl --json -d node2 merge node
json_ok "$OUT"
applied=$(json_num applied "$OUT")
[ "$applied" -gt 0 ] || fail "merge applied $applied entries"
expect_exit 0 ctl --json -d node2 merge node
assert_eq 0 "$(json_num applied "$OUT")" "merge twice: applied"
expect_exit 0 ctl -d node digest
d1=$(head -n 1 "$OUT")
expect_exit 0 ctl -d node2 digest
assert_eq "$d1" "$(head -n 1 "$OUT")" "digest after merge"
# node2 has authored nothing, node nothing new: identical.
expect_exit 0 ctl -d node diff node2
assert_grep 'identical' "$OUT" "diff after merge"
expect_exit 1 ctl -d node diff "$T/no-such-dir"
assert_grep 'does not exist' "$ERR" "diff of a missing dir"

say "global options between a group and its subcommand"
expect_exit 0 ctl card --json show C1 -d node
json_ok "$OUT"
assert_grep '"card": "C1"' "$OUT" "card --json show C1"
expect_exit 0 ctl card -d node show C1
assert_grep '^card +C1' "$OUT" "card -d DIR show C1"
expect_exit 0 ctl student --data=node --json show 20250001
json_ok "$OUT"

say "card issue: UIDs, --replaces"
expect_exit 0 ctl -d node card issue C3 --student 20250001 --uid 01020304
assert_grep "warning: UID 01020304 of card C3 is also carried by card C1 \(student 20250001\)" \
	"$ERR" "card issue with the UID of a live card"
assert_grep "card number on the" "$ERR" "UID warning: how readers decide"
assert_grep '^card\.issue 20250001, card C3: written' "$OUT" "card issue despite a shared UID"
expect_exit 4 ctl -d node check --uid 01020304
assert_grep '^ambiguous' "$OUT" "check of a shared UID"
expect_exit 0 ctl -d node card issue C4 --student 20250001 --uid 04040404
test ! -s "$ERR" || { show_output; fail "card issue with a fresh UID warned"; }
expect_exit 0 ctl -d node student put 20250002 --name "Other" --school 110105-0002
expect_exit 4 ctl -d node card issue C5 --student 20250002 --uid 05050505 --replaces C4
assert_grep "refused: --replaces 'C4' is a card of student 20250001, not of 20250002" \
	"$ERR" "--replaces a card of another student"
expect_exit 3 ctl -d node card issue C5 --student 20250002 --uid 05050505 --replaces NOPE
assert_grep "--replaces 'NOPE': no such card" "$ERR" "--replaces an unknown card"
# Replacing a card by one with the same chip: no warning about the old one.
expect_exit 0 ctl -d node card issue C6 --student 20250001 --uid 04040404 --replaces C4
test ! -s "$ERR" || { show_output; fail "replacement with the old card's UID warned"; }

say "card validate / register write only when the value grows"
expect_exit 0 ctl -d node card validate C2 --date 2025-03-25
assert_grep '^card\.validate 20250001, card C2: written' "$OUT" "validate writes"
assert_grep 'valid through the end of 2025-04' "$OUT" "validate: the new month"
expect_exit 0 ctl -d node card validate C2 --date 2025-03-10
assert_grep '^C2 is already valid through 2025-04 \(nothing written\)$' "$OUT" "validate: no growth"
expect_exit 0 ctl --json -d node card validate C2 --date 2025-04-05
json_ok "$OUT"
assert_grep '"written": false' "$OUT" "validate --json: nothing written"
assert_grep '"valid_through": "2025-04"' "$OUT" "validate --json: current month"
expect_exit 0 ctl --json -d node card validate C2 --date 2025-05-02
assert_grep '"written": true' "$OUT" "validate --json: written"
assert_grep '"valid_through": "2025-05"' "$OUT" "validate --json: new month"
expect_exit 0 ctl --json -d node card register C2 --term 20252
assert_grep '"written": true' "$OUT" "register --json: written"
assert_grep '"registered_term": 20252' "$OUT" "register --json: the term"
expect_exit 0 ctl -d node card register C2 --term 20251
assert_grep '^C2 is already registered for term 20252 \(nothing written\)$' "$OUT" "register: no growth"

say "reasons go with the flag operations"
expect_exit 0 ctl -d node card freeze C2 --reason "left school"
expect_exit 0 ctl -d node card unfreeze C2 --reason "came back"
expect_exit 0 ctl -d node card lost C2 --reason "dropped on the bus"
expect_exit 0 ctl -d node card found C2
expect_exit 2 ctl -d node card validate C2 --reason "x"
assert_grep "'--reason'" "$ERR" "card validate --reason"

say "revocation: the node's entries after seq 1 lose their effect"
expect_exit 0 ctl revoke --root root.key --node "$NODE" --after-seq 1 --out node.rev
expect_exit 1 ctl revoke --root root.key --node "$NODE" --after-seq 1 --out node.rev
expect_exit 0 ctl -d node card show C1
expect_exit 1 ctl -d node cert install node.rev
assert_grep 'node.rev is a revocation, not a certificate \(use: cardctl revoke install node.rev\)' \
	"$ERR" "cert install of a revocation"
expect_exit 1 ctl -d node revoke install node.cert
assert_grep 'node.cert is a certificate, not a revocation \(use: cardctl cert install node.cert\)' \
	"$ERR" "revoke install of a certificate"
expect_exit 0 ctl -d node revoke install node.rev
assert_grep 'installed' "$OUT" "revoke install"
expect_exit 0 ctl revoke --json install node.rev -d node
json_ok "$OUT"
assert_grep '"already_installed": true' "$OUT" "revoke --json install twice"
expect_exit 3 ctl -d node card show C1
expect_exit 0 ctl --json -d node log --refused
json_ok "$OUT"
assert_grep '"reason": "revoked"' "$OUT" "log --refused after the revocation"
expect_exit 0 ctl -d node verify

echo
echo "cli_basics: ok"
