#!/bin/sh
# auth.sh — the Jiangsu identity authentication (教育卡身份信息认证) through
# the real cardctl: records submitted at a service point and at a school,
# reviewed by a class teacher and by the district, on replicas that work
# apart and then exchange bundles.  The education card number is the same
# on every node for the same person, different for different people, and
# the identity number is never stored or printed.
#
#     sh tests/e2e/auth.sh     (after a build; CARDCTL=… for another)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
cd "$T"

# record_of FILE: the record (education card number) a submit printed.
record_of() {
	sed -n 's/^  record \([0-9]*\) .*/\1/p' "$1"
}

# GB 11643 numbers (the check character is right).
ID_XM=320502201209150014     # Wang Xiaoming, a pupil
ID_XH=320502201303010026     # Chen Xiaohong, a pupil
ID_T=320502198001010018      # Li, a teacher
ID_ZL=320502201210100049     # Zhao Lin, a pupil
ID_BAD=320502201209150015    # wrong check character

say "setup: a school, a district node and a service point"
ROOT_PUB=$("$CARDCTL" root init --out root.key)
expect_exit 0 ctl secret init --out deploy.secret
for n in "school school 320502-0001" "district district 320502" \
	 "svc service window-1" "other school 320502-0002"; do
	set -- $n
	expect_exit 0 ctl -d "$1" init --name "$1" --role "$2" --scope "$3" \
		--root-pub "$ROOT_PUB" --secret deploy.secret --root root.key
done
STUDENT="--person student --school 320502-0001 --grade 5 --class 5-2 --enrolled 2019"

say "bad input: exit 2, and the identity number is never repeated"
try 2 -d svc auth submit $STUDENT --name X --guardian 13800000001 \
	--id-number $ID_BAD
assert_grep 'check character' "$ERR" "checksum"
assert_no_grep "$ID_BAD" "$ERR" "bad number not repeated"
try 2 -d svc auth submit $STUDENT --name X --guardian 13800000001 \
	--id-type passport --id-number E123456789012
assert_grep '1 to 11 characters' "$ERR" "long passport"
assert_no_grep 'E123456789012' "$ERR" "passport not repeated"
try 2 -d svc auth submit --person student --school 320502-0001 --name X \
	--id-number $ID_XM
assert_grep 'needs --grade, --class, --enrolled and --guardian' "$ERR" \
	"student fields"
try 2 -d svc auth submit --person teacher --school 320502-0001 --name X \
	--since 2005 --subject maths --enrolled 2019 --id-number $ID_T
try 2 -d svc auth submit $STUDENT --name X --guardian 13800000001 \
	--id-number $ID_XM --grade 13
try 2 -d svc auth submit $STUDENT --name X --guardian 13800000001 \
	--id-number $ID_XM --person parent
try 2 -d svc auth approve 1234 --as headmaster

say "the same person submitted at two nodes, apart: one record, one number"
try 0 -d svc auth submit $STUDENT --name 王小明 --guardian 13800000001 \
	--id-number $ID_XM --actor window-1
XM=$(record_of "$OUT")
[ ${#XM} -eq 19 ] || fail "record '$XM' is not 19 digits"
# A corrected form, at the school, before the two have met: class 5-3.
try 0 -d school auth submit --person student --school 320502-0001 \
	--grade 5 --class 5-3 --enrolled 2019 --name 王小明 \
	--guardian 13800000001 --id-number $ID_XM
assert_eq "$XM" "$(record_of "$OUT")" "the school computes the same number"
try 0 -d svc auth submit $STUDENT --name 陈小红 --guardian 13800000002 \
	--id-number $ID_XH
XH=$(record_of "$OUT")
try 0 -d svc auth submit --person teacher --school 320502-0001 --name 李老师 \
	--since 2005 --subject 数学 --id-number $ID_T
TL=$(record_of "$OUT")
try 0 -d school auth submit $STUDENT --name 赵琳 --guardian 13800000003 \
	--id-number $ID_ZL
ZL=$(record_of "$OUT")
[ "$XM" != "$XH" ] && [ "$XM" != "$TL" ] && [ "$XH" != "$TL" ] &&
	[ "$ZL" != "$XM" ] || fail "two people share a number"
bundle_exchange svc school
expect_exit 0 ctl -d district import svc-11.bundle
expect_exit 0 ctl -d district import school-11.bundle
assert_same_digest svc school
assert_same_digest svc district
# The later form stands, everywhere.
for n in svc school district; do
	expect_exit 0 ctl --json -d $n auth show "$XM"
	json_ok "$OUT"
	assert_grep '"class": "5-3"' "$OUT" "the later submission at $n"
	assert_grep '"state": "submitted"' "$OUT" "$XM under review at $n"
done
try 0 -d school auth list --class 5-2
assert_grep "^$XH .*陈小红" "$OUT" "class 5-2 lists Chen"
assert_no_grep "^$XM" "$OUT" "Wang moved to 5-3"
try 0 --json -d school auth list
json_ok "$OUT"
[ "$(grep -c '"record"' "$OUT")" -eq 4 ] || fail "four records await review"

say "who may review"
try 4 -d school auth approve "$TL" --as class-teacher --actor 王老师
assert_grep 'reviewed by an administrator' "$ERR" "class teacher, teacher's record"
try 4 -d district auth approve "$XH" --as class-teacher
assert_grep 'school.s own node' "$ERR" "class teacher at the district"
try 4 -d svc auth approve "$XH" --as admin
assert_grep '\(role\)' "$ERR" "service point reviewing"
expect_exit 0 ctl -d school export --out school-o.bundle
expect_exit 0 ctl -d other import school-o.bundle
try 4 -d other auth approve "$XH" --as admin
assert_grep '\(scope\)' "$ERR" "another school reviewing"
try 2 -d district auth reject "$XH" --as admin
assert_grep 'reason' "$ERR" "reject without a reason"
try 3 -d district auth approve 8487277318749967769 --as admin

say "approval gives the education card number; cards follow"
try 0 -d school auth approve "$XH" --as class-teacher --actor 王老师
assert_grep "education card number $XH" "$OUT" "approval prints the number"
try 0 -d district auth approve "$TL" --as admin --actor 区教育局
try 0 -d district student put "$TL" --subject 物理 --since 2006
try 0 --json -d district auth show "$TL"
assert_grep '"subject": "物理"' "$OUT" "the teacher's subject changed after approval"
assert_grep '"in_post_since": 2006' "$OUT" "the teacher's year changed"
try 2 -d district student put "$TL" --enrolled 2019 --since 2006
try 4 -d school auth approve "$XH" --as class-teacher
assert_grep 'not_submitted' "$ERR" "approve twice"
try 0 --json -d school student show "$XH"
assert_grep '"known": true' "$OUT" "approved student is known"
assert_grep '"identity_review": "approved"' "$OUT" "student show says approved"
bundle_exchange school district
try 0 -d district card issue JS0001 --student "$XH" --uid 04A1B2C3
try 0 -d district check --card JS0001
assert_grep '^accept' "$OUT" "the approved pupil's card"
try 4 -d district card issue JS0002 --student "$ZL" --uid 04A1B2C4
assert_grep 'comes after the identity review' "$ERR" "no card before approval"
try 4 -d school student put "$ZL" --name 赵琳 --school 320502-0001
assert_grep 'auth_pending' "$ERR" "student put under review"
try 3 -d school student leave "$ZL" --reason dropped
assert_grep 'record awaiting identity review' "$ERR" "leave under review"
try 4 -d school auth submit $STUDENT --name 陈小红 --guardian 13800000002 \
	--id-number $ID_XH
assert_grep "already approved, with education card number $XH" "$ERR" \
	"submit after approval"
# The service point has not heard of the approval yet: it takes the form;
# once the two meet, the approval (earlier) stands and the form is refused.
try 0 -d svc auth submit $STUDENT --name 陈小红 --guardian 13800000002 \
	--id-number $ID_XH
bundle_exchange svc school
assert_same_digest svc school
expect_exit 0 ctl --json -d svc auth show "$XH"
assert_grep '"state": "approved"' "$OUT" "the approval stands at svc"
expect_exit 0 ctl -d svc log --refused
assert_grep 'auth.submit.*auth_done' "$OUT" "the late form refused"

say "concurrent reviews: the district rejects Zhao, the class teacher approves"
bundle_exchange school district
try 0 -d district auth reject "$ZL" --as admin --reason "不在学籍名册" \
	--actor 区教育局
try 0 -d school auth approve "$ZL" --as class-teacher --actor 王老师
bundle_exchange school district
assert_same_digest school district
for n in school district; do
	expect_exit 0 ctl --json -d $n auth show "$ZL"
	assert_grep '"state": "rejected"' "$OUT" "the earlier review stands at $n"
	assert_grep '"reason": "不在学籍名册"' "$OUT" "reason at $n"
	expect_exit 0 ctl -d $n log --refused
	assert_grep 'auth.approve.*not_submitted' "$OUT" "the later one refused at $n"
done
try 0 -d school auth submit $STUDENT --name 赵琳 --guardian 13800000003 \
	--id-number $ID_ZL
assert_grep 'submitted again' "$OUT" "resubmission after rejection"

say "a review of an earlier submission does not approve a later one"
bundle_exchange school district
# The district reviews Wang's record as it has it; meanwhile the service
# point submits a corrected form (class 5-1).  The review is written
# after the correction, but did not see it.
bundle_exchange svc district
try 0 -d svc auth submit --person student --school 320502-0001 \
	--grade 5 --class 5-1 --enrolled 2019 --name 王小明 \
	--guardian 13800000001 --id-number $ID_XM
try 0 -d district auth approve "$XM" --as admin
bundle_exchange svc district
assert_same_digest svc district
expect_exit 0 ctl --json -d district auth show "$XM"
assert_grep '"state": "submitted"' "$OUT" "the stale approval has no effect"
assert_grep '"class": "5-1"' "$OUT" "the corrected form waits"
expect_exit 0 ctl -d district log --refused
assert_grep 'auth.approve.*stale_review' "$OUT" "stale review refused"
try 0 -d district auth approve "$XM" --as admin
try 0 --json -d district auth list --state all
json_ok "$OUT"
[ "$(grep -c '"state": "approved"' "$OUT")" -eq 3 ] || fail "three approved"

say "one person, one record: the same identity number under another edu_id"
bundle_exchange district school
try 4 -d school auth submit --person teacher --school 320502-0001 --name 李 \
	--since 2005 --subject 数学 --id-number $ID_T
assert_grep 'already approved' "$ERR" "teacher again"
try 0 -d school student put 10000002 --name 周杰 --school 320502-0001 \
	--id-number 320505201206010031
try 4 -d school auth submit $STUDENT --name 周杰 --guardian 13800000004 \
	--id-number 320505201206010031
assert_grep 'already on file for student 10000002' "$ERR" "duplicate person"
# 19 digits passing the check digit are reserved for identity review;
# other edu_ids, also of 19 digits, are not.
try 0 -d school student put 5144934566088929774 --name X --school 320502-0001
try 4 -d school student put 5144934566088929775 --name X --school 320502-0001
assert_grep 'form of an education card number' "$ERR" "reserved numbers"

say "identity numbers leave the command line at once; '-' reads standard input"
ID_SQ=320502201101010036
mkfifo guardian.fifo
tick
"$CARDCTL" -d school auth submit $STUDENT --name 孙琪 --id-number $ID_SQ \
	--guardian - <guardian.fifo >sq.out 2>&1 &
pid=$!
exec 3>guardian.fifo
# cardctl now waits for the guardian's number on standard input: by then
# its arguments no longer hold the identity number.
for i in 1 2 3 4 5 6 7 8 9 10; do
	grep -q 'guardian' /proc/$pid/cmdline 2>/dev/null && break
	sleep 0.1
done
sleep 0.2
tr '\0' ' ' </proc/$pid/cmdline >sq.cmdline
assert_grep 'auth submit' sq.cmdline "the process's arguments"
assert_no_grep "$ID_SQ" sq.cmdline "the identity number in the arguments"
echo 13800000005 >&3
exec 3>&-
wait $pid || { cat sq.out >&2; fail "auth submit with --guardian -"; }
assert_grep 'submitted;' sq.out "submitted with the guardian from stdin"
echo "$ID_SQ" >sq.id
expect_exit 0 ctl -d school student find --id-number - <sq.id
assert_grep '孙琪' "$OUT" "found by the number read from standard input"
rm sq.id sq.cmdline
expect_exit 2 ctl -d school student find --id-number - </dev/null
assert_grep 'no line to read' "$ERR" "empty standard input"

say "the number depends on the deployment secret, and nothing is in clear"
expect_exit 0 ctl secret init --out other.secret
expect_exit 0 ctl -d elsewhere init --name elsewhere --role school \
	--scope 320502-0001 --root-pub "$ROOT_PUB" --secret other.secret \
	--root root.key
expect_exit 0 ctl -d elsewhere auth submit $STUDENT --name 王小明 \
	--guardian 13800000001 --id-number $ID_XM
[ "$(record_of "$OUT")" != "$XM" ] || fail "another deployment, the same number"
expect_exit 0 ctl -d district log
# Every data directory, bundle and output of this test.
for id in $ID_XM $ID_XH $ID_T $ID_ZL $ID_SQ 13800000001 13800000005; do
	if grep -rq "$id" .; then
		fail "an identity number in clear: $(grep -rl "$id" .)"
	fi
done
assert_grep 'auth.submit' "$OUT" "the log shows the flow"
expect_exit 0 ctl -d district verify

echo
echo "auth: ok"
