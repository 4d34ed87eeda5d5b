#!/bin/sh
# walkthrough.sh — a small deployment from scratch, as in the README:
# a root key, a city node and two schools; students and cards made at the
# city, a loss reported at one school, a card frozen at the other, bundles
# carried by hand between them, and in the end every replica agrees.
#
# Runs standalone from the source tree after a build:
#     sh tests/e2e/walkthrough.sh
# (CARDCTL=/path/to/cardctl to use another binary).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
cd "$T"

# Clear ID numbers of the demo (fictitious).  They must never appear in any
# data directory or bundle: only keyed digests are stored.
ID1=11010520150304123X
ID2=110105201506071245
ID3=110105201409090021

say "1. The city makes the deployment's root key (kept offline) and secret"
printf '$ cardctl root init --out root.key\n'
tick
ROOT_PUB=$("$CARDCTL" root init --out root.key)
echo "$ROOT_PUB"
[ ${#ROOT_PUB} -eq 64 ] || fail "root init printed '$ROOT_PUB', not 64 hex digits"
run secret init --out deploy.secret

say "2. Three nodes: the city (110000) and two schools in Chaoyang (110105)"
run -d city init --name "Beijing city" --role city --scope 110000 \
	--profile beijing --root-pub "$ROOT_PUB" --secret deploy.secret \
	--root root.key
run -d schoolA init --name "Chaoyang No.1 primary" --role school \
	--scope 110105-0001 --profile beijing --root-pub "$ROOT_PUB" \
	--secret deploy.secret --root root.key
run -d schoolB init --name "Chaoyang No.2 primary" --role school \
	--scope 110105-0002 --profile beijing --root-pub "$ROOT_PUB" \
	--secret deploy.secret --root root.key
run -d schoolA id

say "3. The city enrols three students and issues their cards"
run -d city student put 20250001 --name "李伟" --school 110105-0001 \
	--grade 3 --class 2 --stage primary --gender male \
	--id-number "$ID1" --actor city-desk
run -d city student put 20250002 --name "王芳" --school 110105-0001 \
	--grade 4 --class 1 --stage primary --gender female \
	--id-number "$ID2" --actor city-desk
run -d city student put 20250003 --name "张敏" --school 110105-0002 \
	--grade 5 --stage primary --id-number "$ID3" --actor city-desk
run -d city card issue C0001 --student 20250001 --uid 04A1B2C3 --actor city-desk
run -d city card issue C0002 --student 20250002 --uid 04A1B2C3D4E5F6 --actor city-desk
run -d city card issue C0003 --student 20250003 --uid 04B1B2C3 --actor city-desk
run -d city student show 20250001

say "4. The city's bundle goes to both schools on a USB stick"
run -d city export --out city-1.bundle
run -d schoolA import city-1.bundle
run -d schoolB import city-1.bundle
run -d schoolA card show C0001

say "5. At school A a parent reports C0001 lost; C0002 is validated and registered"
run -d schoolA card lost C0001 --actor window-1
run -d schoolA card validate C0002 --date 2025-03-10 --actor window-1
run -d schoolA card register C0002 --term 20251 --actor window-1
run -d schoolA check --card C0001 || true

say "6. School B freezes C0003: the student left without a transfer"
run -d schoolB card freeze C0003 --reason "left school" --actor office

say "7. Bundles: A -> city, B -> city, then city -> A and city -> B"
run -d schoolA export --out a-1.bundle
run -d schoolB export --out b-1.bundle
run -d city import a-1.bundle
run -d city import b-1.bundle
# The city sends each school only what it lacks: the school's status is
# its version vector.
tick
"$CARDCTL" -d schoolA --json status >a-status.json
json_ok a-status.json
tick
"$CARDCTL" -d schoolB --json status >b-status.json
run -d city export --out city-a.bundle --since-vv a-status.json
run -d city export --out city-b.bundle --since-vv b-status.json
run -d schoolA import city-a.bundle
run -d schoolB import city-b.bundle

say "8. All three replicas hold the same state"
for n in city schoolA schoolB; do
	tick
	"$CARDCTL" -d $n digest >"$n.digest"
	printf '%-8s %s\n' "$n" "$(head -n 1 "$n.digest")"
done
assert_eq "$(head -n 1 city.digest)" "$(head -n 1 schoolA.digest)" \
	"digest of school A equals the city's"
assert_eq "$(head -n 1 city.digest)" "$(head -n 1 schoolB.digest)" \
	"digest of school B equals the city's"
try 0 -d city diff schoolA
assert_grep 'identical' "$OUT" "diff city schoolA"

say "9. At school B's gate: the card lost at school A, a good card, a stranger"
try 4 -d schoolB check --card C0001
assert_grep '^lost' "$OUT" "check C0001 at school B"
try 0 -d schoolB check --uid 04A1B2C3D4E5F6
assert_grep '^accept' "$OUT" "check C0002's UID at school B"
try 3 -d schoolB check --uid DEADBEEF
assert_grep '^unknown' "$OUT" "check of an unknown UID"
try 4 -d schoolB check --card C0003
assert_grep '^frozen' "$OUT" "check C0003 at school B"
try 0 --json -d schoolB check --card C0002
json_ok "$OUT"
assert_grep '"decision": "accept"' "$OUT" "check --json C0002"

say "10. School A may not freeze a card of school B's student"
try 4 -d schoolA card freeze C0003
assert_grep 'refused' "$ERR" "school A freezing C0003"

say "11. Importing the same bundle twice changes nothing"
try 0 --json -d schoolA import city-a.bundle
json_ok "$OUT"
assert_eq 0 "$(json_num applied "$OUT")" "applied on a second import"
tick
"$CARDCTL" -d schoolA digest >schoolA.digest2
assert_eq "$(head -n 1 city.digest)" "$(head -n 1 schoolA.digest2)" \
	"digest after the second import"

say "12. The card's story, the city's hotlist and status"
run -d city log --card C0001
try 0 -d city hotlist
assert_grep '^C0001,20250001,lost,04a1b2c3$' "$OUT" "hotlist C0001"
assert_grep '^C0003,20250003,frozen,04b1b2c3$' "$OUT" "hotlist C0003"
assert_no_grep '^C0002,' "$OUT" "hotlist C0002"
run -d city status
try 0 --json -d city card show C0002
json_ok "$OUT"
assert_grep '"valid_through": "2025-03"' "$OUT" "C0002 validated"
assert_grep '"registered_term": 20251' "$OUT" "C0002 registered"
assert_grep '"status": "active"' "$OUT" "C0002 active"

say "13. A service window finds a student by ID number; no clear number is stored"
try 0 -d schoolB student find --id-number "$ID1"
assert_grep '^20250001 ' "$OUT" "student find"
for id in "$ID1" "$ID2" "$ID3"; do
	if grep -r -l -- "$id" city schoolA schoolB ./*.bundle; then
		fail "the clear ID number $id is stored in the files above"
	fi
done
echo "no clear ID number in any data directory or bundle"

say "14. Every replica re-verifies"
for n in city schoolA schoolB; do
	expect_exit 0 ctl -d $n verify
	printf '%-8s %s\n' "$n" "$(grep '^verify' "$OUT")"
done

echo
echo "walkthrough: ok"
