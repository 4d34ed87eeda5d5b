#!/bin/sh
# bench_import.sh — `cardctl student import` of a generated enrollment file
# (docs/bench.md, "bench_import").  Not run by ctest.
#
#   sh tests/bench/bench_import.sh [ROWS] [PHOTOS] [PHOTO_BYTES]
#
# ROWS rows (default 500000) for one district-wide school list on a city
# node, photos shared by the rows in turn among PHOTOS files (default 1000;
# minimal JPEG headers of 640x480x3, padded to PHOTO_BYTES after the scan
# header when given: a real 640x480 photo is 30-100 KB).  Times the first import (every row
# authored) and the second (every row unchanged), and prints the counts.
# CARDCTL (default ./build/admin-cli/cardctl) and BENCH_DIR (default a
# fresh directory under /tmp) can be set.
set -eu

ROWS=${1:-500000}
PHOTOS=${2:-1000}
PHOTO_BYTES=${3:-0}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
: "${CARDCTL:=$SRC/build/admin-cli/cardctl}"
case $CARDCTL in /*) ;; *) CARDCTL=$(pwd)/$CARDCTL ;; esac
D=${BENCH_DIR:-$(mktemp -d /tmp/cardnode-import.XXXXXX)}
mkdir -p "$D"
cd "$D"
export CARDNODE_ACTOR=bench

oct() {
	# shellcheck disable=SC2059
	printf "\\$(printf '%03o' "$1")"
}
jpeg() {
	printf '\377\330\377\340\000\020JFIF\000\001\001\000\000\001\000\001\000\000'
	printf '\377\300\000\021\010\001\340\002\200\003'
	printf '\001\021\000\002\021\000\003\021\000'
	printf '\377\332\000\010\001\001\000\000\077\000'
	oct "$1"
	printf '\377\331'
}

now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{ printf "%.2f", $1 - $2 }'; }

echo "generating $ROWS rows, $PHOTOS photos in $D" >&2
i=0
while [ "$i" -lt "$PHOTOS" ]; do
	jpeg $((i % 256)) >"p$i.jpg"
	if [ "$PHOTO_BYTES" -gt 0 ]; then
		head -c "$PHOTO_BYTES" /dev/urandom >>"p$i.jpg"
	fi
	i=$((i + 1))
done
awk -v n="$ROWS" -v first=10000001 -v school=110105-0001 -v region=110105 \
	-v nphotos="$PHOTOS" -f "$SRC/tests/tools/enroll_gen.awk" >enroll.csv
ls -l enroll.csv >&2

ROOT_PUB=$("$CARDCTL" root init --out root.key)
"$CARDCTL" secret init --out deploy.secret >/dev/null
"$CARDCTL" -d node init --name city --role city --scope 110000 \
	--root-pub "$ROOT_PUB" --secret deploy.secret --root root.key >/dev/null

t0=$(now)
"$CARDCTL" -d node student import enroll.csv
t1=$(since "$t0")
t0=$(now)
"$CARDCTL" -d node student import enroll.csv
t2=$(since "$t0")
du -sh node >&2
echo "rows $ROWS: first import ${t1} s ($(echo "$ROWS $t1" | awk '{ printf "%.0f", $1 / $2 }') rows/s), second import ${t2} s"
[ -n "${BENCH_DIR:-}" ] || rm -rf "$D"
