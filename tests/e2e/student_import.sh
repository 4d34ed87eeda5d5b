#!/bin/sh
# student_import.sh — cardctl student import (docs/enrollment.md): 1,000
# rows with every kind of bad row; exactly the bad rows in the failure file
# with the right reason; the rest imported; rare characters flagged; a
# second import changes nothing; more than 3% rejected is exit 5; usage.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
GEN="$here/../tools/enroll_gen.awk"
cd "$T"

# oct N: the byte N.
oct() {
	# shellcheck disable=SC2059 # the format is the escape
	printf "\\$(printf '%03o' "$1")"
}
# jpeg W H COMPONENTS SOF: a JPEG header (SOI, APP0, SOFn, SOS, EOI) —
# all the import reads.
jpeg() {
	printf '\377\330\377\340\000\020JFIF\000\001\001\000\000\001\000\001\000\000'
	printf '\377'; oct $((192 + $4)); oct 0; oct $((8 + 3 * $3)); oct 8
	oct $(($2 / 256)); oct $(($2 % 256)); oct $(($1 / 256)); oct $(($1 % 256))
	oct "$3"
	i_=1
	while [ "$i_" -le "$3" ]; do
		oct "$i_"; oct 17; oct 0
		i_=$((i_ + 1))
	done
	printf '\377\332\000\010\001\001\000\000\077\000\001\002\377\331'
}
idnum() { # REGION BIRTH SEQ
	awk -v mode=id -v region="$1" -v birth="$2" -v seq="$3" -f "$GEN"
}

say "fixtures: photos and a 1,000-row file"
mkdir photos
jpeg 640 480 3 0 >photos/good.jpg
jpeg 640 480 3 2 >photos/prog.jpg
jpeg 320 240 3 0 >photos/small.jpg
jpeg 640 480 1 0 >photos/grey.jpg
head -c 30 photos/good.jpg >photos/cut.jpg
printf 'GIF89a' >photos/gif.jpg

SCHOOL=110105-0001
awk -v n=985 -v first=20250001 -v school=$SCHOOL -v region=110105 \
	-v photo=photos/good.jpg -f "$GEN" >enroll.csv
GOOD_ID=$(idnum 110105 20120307 1)
BADSUM_ID=$(echo "$GOOD_ID" | sed 's/.$//')$(
	[ "$(echo "$GOOD_ID" | cut -c18)" = 0 ] && echo 1 || echo 0)
FEB29_ID=$(idnum 110105 20130229 2)
FUTURE_ID=$(idnum 110105 20260101 3)
ID4=$(idnum 110105 20110505 4)
# 15 rows more: 11 bad, 4 good (2 of them with rare characters, one
# passport, one permit, one progressive photo with quoted fields).
cat >>enroll.csv <<EOF
20259001,赵一,male,$SCHOOL,5,1,primary,resident,$BADSUM_ID,photos/good.jpg
20259002,钱二,male,$SCHOOL,5,1,primary,resident,$FEB29_ID,photos/good.jpg
20259003,孙三,female,$SCHOOL,5,1,primary,resident,$FUTURE_ID,photos/good.jpg
20250007,李四,male,$SCHOOL,5,1,primary,resident,$ID4,photos/good.jpg
20259005,周五,male,110105-0002,5,1,primary,resident,$ID4,photos/good.jpg
20259006,吴六,female,$SCHOOL,5,1,primary,resident,$ID4,photos/small.jpg
20259007,郑七,female,$SCHOOL,5,1,primary,resident,$ID4,photos/grey.jpg
20259008,,male,$SCHOOL,5,1,primary,resident,$ID4,photos/good.jpg
20259009,王九,male,$SCHOOL,13,1,primary,resident,$ID4,photos/good.jpg
20259010,冯十,male,$SCHOOL,5,1,primary,resident,$ID4,photos/none.jpg
20259011,陈十一,male,$SCHOOL,5,1,"prim"ary,resident,$ID4,photos/good.jpg
20259101,王喆,male,$SCHOOL,5,1,primary,resident,$ID4,photos/good.jpg
20259102,李𠀀堃,female,$SCHOOL,6,2,primary,passport,E1234567,photos/good.jpg
20259103,"Anna, Smith",female,$SCHOOL,6,"2,""b""",primary,permit,H12345678,photos/prog.jpg
20259104,卫十四,male,$SCHOOL,4,,primary,resident,$ID4,photos/good.jpg
EOF
rows=$(($(wc -l <enroll.csv) - 1))
assert_eq 1000 "$rows" "rows in the test file"

say "a school node"
ROOT_PUB=$("$CARDCTL" root init --out root.key)
ctl secret init --out deploy.secret >/dev/null
ctl -d node init --name school --role school --scope $SCHOOL \
	--root-pub "$ROOT_PUB" --secret deploy.secret --root root.key >/dev/null

say "--help and usage errors"
expect_exit 0 "$CARDCTL" student import --help
assert_grep '^Usage: cardctl student import FILE.csv' "$OUT" "import --help"
assert_grep 'failures FILE' "$OUT" "import --help names --failures"
expect_exit 0 "$CARDCTL" student --help
assert_grep 'import' "$OUT" "student --help lists import"
expect_exit 2 "$CARDCTL" -d node student import
assert_grep 'student import' "$ERR" "import without a file"
expect_exit 2 "$CARDCTL" -d node student import a.csv b.csv
expect_exit 2 "$CARDCTL" -d node student import enroll.csv --frob
expect_exit 3 "$CARDCTL" -d node student import no-such.csv
assert_grep 'no-such.csv' "$ERR" "missing file named"
printf 'edu_id,name\n1,x\n' >badhead.csv
expect_exit 1 ctl -d node student import badhead.csv
assert_grep "no column 'gender'" "$ERR" "bad header"
: >empty.csv
expect_exit 1 ctl -d node student import empty.csv
assert_grep 'empty' "$ERR" "empty file"

say "import 1,000 rows: 989 imported, 11 rejected, 2 rare"
expect_exit 0 ctl -d node student import enroll.csv --rare rare.csv
cat "$OUT"
assert_grep '^read +1000$' "$OUT" "read"
assert_grep '^imported +989$' "$OUT" "imported"
assert_grep '^unchanged +0$' "$OUT" "unchanged"
assert_grep '^rejected +11 ' "$OUT" "rejected"
assert_grep '^rare +2$' "$OUT" "rare"
assert_grep '20259101 +U\+5586$' "$OUT" "rare 喆 listed"
assert_grep '20259102 +U\+20000 U\+5803$' "$OUT" "rare 𠀀堃 listed"
test "$(stat -c %a enroll.failures.csv)" = 600 ||
	fail "failure file is not 0600"

say "the failure file: exactly the bad rows, with field and reason"
f=enroll.failures.csv
assert_eq "edu_id,name,gender,school,grade,class,stage,id_type,id_number,photo,line,field,reason" \
	"$(head -n 1 $f)" "failure file header"
assert_eq 11 $(($(wc -l <$f) - 1)) "rows in the failure file"
check_fail() { # EDU_ID LINE FIELD REASON-PATTERN
	assert_grep "^$1,.*,$2,$3,.*$4" $f "failure of $1"
}
check_fail 20259001 987 id_number 'check character'
check_fail 20259002 988 id_number 'not a calendar date'
check_fail 20259003 989 id_number 'in the future'
check_fail 20250007 990 edu_id 'duplicate.*line 8'
check_fail 20259005 991 school 'outside this node.s scope'
check_fail 20259006 992 photo '320x240.*640x480'
check_fail 20259007 993 photo 'greyscale'
check_fail 20259008 994 name 'missing'
check_fail 20259009 995 grade 'not a number from 1 to 12'
check_fail 20259010 996 photo 'cannot open'
check_fail 20259011 997 row 'quote'
# the row itself, as it was written
grep -q "^20259001,赵一,male,$SCHOOL,5,1,primary,resident,$BADSUM_ID,photos/good.jpg,987," $f ||
	fail "the failure file does not repeat the row as written"
assert_grep '^edu_id,name,school,line,characters$' rare.csv "rare file header"
assert_grep "^20259101,王喆,$SCHOOL,998,U\\+5586$" rare.csv "rare file row"

say "ID numbers never reach the terminal"
for id in "$(sed -n 2p enroll.csv | cut -d, -f9)" "$BADSUM_ID" "$FEB29_ID" "$ID4" E1234567 H12345678; do
	assert_no_grep "$id" "$OUT" "stdout"
	assert_no_grep "$id" "$ERR" "stderr"
done

say "the imported students"
expect_exit 0 ctl -d node --json student show 20259103
json_ok "$OUT"
assert_grep '"name": "Anna, Smith"' "$OUT" "quoted name"
assert_grep '"class": "2,\\"b\\""' "$OUT" "quoted class"
assert_grep '"photo": "[0-9a-f]{64}"' "$OUT" "photo digest"
expect_exit 0 ctl -d node --json student show 20250001
assert_grep '"id_number_on_file": true' "$OUT" "id digest"
assert_grep '"stage": "primary"' "$OUT" "stage"
expect_exit 3 ctl -d node student show 20259001
ROW1_ID=$(sed -n 2p enroll.csv | cut -d, -f9)
expect_exit 0 ctl -d node student find --id-number "$ROW1_ID"
assert_grep '^20250001 ' "$OUT" "found by resident ID number"
expect_exit 0 ctl -d node student find --id-number e1234567
assert_grep '20259102' "$OUT" "found by passport"
expect_exit 0 ctl -d node --json digest
before=$(json_str digest "$OUT")
entries=$(json_num entries "$OUT")
assert_eq 989 "$entries" "entries written"

say "a second import changes nothing"
expect_exit 0 ctl -d node student import enroll.csv
assert_grep '^imported +0$' "$OUT" "imported again"
assert_grep '^unchanged +989$' "$OUT" "unchanged"
assert_grep '^rejected +11 ' "$OUT" "rejected again"
expect_exit 0 ctl -d node --json digest
assert_eq "$before" "$(json_str digest "$OUT")" "digest after the second import"
assert_eq "$entries" "$(json_num entries "$OUT")" "entries after the second import"

say "a changed row is one new entry; JSON output"
sed 's/^20250001,张伟,male,110105-0001,1,1,/20250001,张伟,male,110105-0001,2,1,/' \
	enroll.csv >changed.csv
expect_exit 0 ctl -d node --json student import changed.csv \
	--failures changed.fail
json_ok "$OUT"
assert_eq 1 "$(json_num imported "$OUT")" "imported (changed)"
assert_eq 988 "$(json_num unchanged "$OUT")" "unchanged (changed)"
assert_eq 11 "$(json_num rejected "$OUT")" "rejected (changed)"
assert_eq 12 $(($(wc -l <changed.fail))) "changed.fail lines"

say "a BOM and CRLF line ends"
printf '\357\273\277edu_id,name,gender,school,grade,class,stage,id_type,id_number,photo\r\n' >bom.csv
printf '30000001,韩梅,female,%s,1,1,primary,passport,G0000001,photos/good.jpg\r\n' $SCHOOL >>bom.csv
expect_exit 0 ctl -d node student import bom.csv
assert_grep '^imported +1$' "$OUT" "BOM file imported"

say "more than 3% rejected: exit 5, the good rows imported"
awk -v n=96 -v first=40000001 -v school=$SCHOOL -v region=110105 \
	-v photo=photos/good.jpg -f "$GEN" >batch.csv
awk -v n=4 -v first=40000101 -v school=$SCHOOL -v region=110105 \
	-v photo=photos/grey.jpg -v header=0 -f "$GEN" >>batch.csv
expect_exit 5 ctl -d node student import batch.csv
assert_grep '^imported +96$' "$OUT" "good rows of a failed batch"
assert_grep '^rejected +4 ' "$OUT" "rejected of a failed batch"
assert_grep 'more than 3%' "$ERR" "exit 5 message"
# 3 of 100 is not more than 3%
awk -v n=97 -v first=50000001 -v school=$SCHOOL -v region=110105 \
	-v photo=photos/good.jpg -f "$GEN" >ok3.csv
awk -v n=3 -v first=50000101 -v school=$SCHOOL -v region=110105 \
	-v photo=photos/gif.jpg -v header=0 -f "$GEN" >>ok3.csv
expect_exit 0 ctl -d node student import ok3.csv
assert_grep 'not a JPEG' ok3.failures.csv "not a JPEG reason"

say "a node without a certificate may not import"
ctl -d nocert init --name x --role school --scope $SCHOOL \
	--root-pub "$ROOT_PUB" --secret deploy.secret >/dev/null
expect_exit 4 ctl -d nocert student import enroll.csv
assert_grep 'certificate' "$ERR" "no certificate"

echo "student_import: ok"
