#!/bin/sh
# package.sh — the Debian package built by CPack: its files and modes, the
# conffile, Depends, the binaries as installed (dpkg -x into a scratch
# root), the sample configuration accepted by --check-config, the manual
# pages rendering without a warning and listing every configuration key,
# the systemd unit, the maintainer scripts, and no lintian error.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

: "${CN_BUILD:=$(dirname "$CARDCTL")/..}"
: "${CN_SRC:=$here/../..}"
for t_ in dpkg-deb lintian groff; do
	command -v "$t_" >/dev/null 2>&1 ||
		fail "$t_ is missing: run scripts/install-deps"
done

say "cmake --build --target package"
cmake --build "$CN_BUILD" --target package >"$T/cpack.log" 2>&1 ||
	{ cat "$T/cpack.log" >&2; fail "the package target failed"; }
ver=$("$CARDCTL" --version | sed -n 's/^cardctl //p')
arch=$(dpkg --print-architecture)
deb=$CN_BUILD/cardnode_${ver}-1_${arch}.deb
[ -f "$deb" ] || fail "no $deb after the package target"
echo "$deb"

say "contents and modes (dpkg-deb -c)"
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' >"$T/contents"
has() { # has MODE PATH
	grep -qx -- "$1 root/root ./$2" "$T/contents" ||
		{ cat "$T/contents" >&2; fail "$2 missing, or not $1 root/root"; }
}
has -rwxr-xr-x usr/bin/cardnode
has -rwxr-xr-x usr/bin/cardctl
has -rw-r--r-- lib/systemd/system/cardnode.service
has -rw-r--r-- etc/cardnode/cardnode.conf
has -rw-r--r-- usr/share/man/man8/cardnode.8.gz
has -rw-r--r-- usr/share/man/man8/cardctl.8.gz
has -rw-r--r-- usr/share/man/man5/cardnode.conf.5.gz
has -rw-r--r-- usr/share/bash-completion/completions/cardctl
has -rw-r--r-- usr/share/doc/cardnode/copyright
has -rw-r--r-- usr/share/doc/cardnode/changelog.Debian.gz
grep '^d' "$T/contents" | grep -v '^drwxr-xr-x root/root ' >"$T/odd" || true
[ ! -s "$T/odd" ] || { cat "$T/odd" >&2; fail "directories not 0755 root/root"; }

say "control: conffiles, Depends, fields"
dpkg-deb -I "$deb" conffiles >"$T/conffiles"
assert_grep '^/etc/cardnode/cardnode.conf$' "$T/conffiles" "conffiles"
dpkg-deb -f "$deb" Depends >"$T/depends"
for lib in libuv1 liblmdb0 libsodium23 libcbor0.8 libnfc6 libinih1 adduser; do
	assert_grep "(^|, )$lib( |,|$)" "$T/depends" "Depends: $lib"
done
assert_eq net "$(dpkg-deb -f "$deb" Section)" "Section"
assert_eq optional "$(dpkg-deb -f "$deb" Priority)" "Priority"
assert_eq "$arch" "$(dpkg-deb -f "$deb" Architecture)" "Architecture"
assert_eq "$ver-1" "$(dpkg-deb -f "$deb" Version)" "Version"
dpkg-deb -f "$deb" Maintainer Description >"$T/fields"
assert_grep '^Maintainer: .+ <.+@.+>$' "$T/fields" "Maintainer"

say "installed into a scratch root (dpkg -x)"
R=$T/root
dpkg -x "$deb" "$R"
expect_exit 0 "$R/usr/bin/cardnode" --version
assert_eq "cardnode $ver" "$(head -n 1 "$OUT")" "installed cardnode --version"
expect_exit 0 "$R/usr/bin/cardnode" --help
assert_eq "usage: cardnode -c FILE [--check-config]" "$(head -n 1 "$OUT")" \
	"installed cardnode --help"
expect_exit 0 "$R/usr/bin/cardctl" --version
assert_eq "cardctl $ver" "$(head -n 1 "$OUT")" "installed cardctl --version"
expect_exit 0 "$R/usr/bin/cardctl" --help
assert_eq "Usage: cardctl [-d DIR] [--json] <command> [arguments]" \
	"$(head -n 1 "$OUT")" "installed cardctl --help"
zcat "$R/usr/share/doc/cardnode/changelog.Debian.gz" | head -n 1 >"$T/chl"
assert_grep "^cardnode \\($ver-1\\) " "$T/chl" "changelog.Debian.gz"
assert_grep '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/$' \
	"$R/usr/share/doc/cardnode/copyright" "copyright (DEP-5)"

say "the sample configuration passes --check-config"
CARDCTL=$R/usr/bin/cardctl # the installed one makes the data dir
deploy
node_init node school 110105-0001
conf=$R/etc/cardnode/cardnode.conf
assert_grep '^data_dir = /var/lib/cardnode$' "$conf" "sample data_dir"
sed "s|^data_dir = .*|data_dir = $T/node|" "$conf" >"$T/as-shipped.conf"
expect_exit 0 "$R/usr/bin/cardnode" -c "$T/as-shipped.conf" --check-config
assert_grep "^ok: $T/as-shipped.conf \\(data dir $T/node, 0 peers\\)" "$OUT" \
	"--check-config of the sample"
# Every commented key, uncommented, is valid too.
sed -e "s|^data_dir = .*|data_dir = $T/node|" -e 's/^;\([a-z_]* = \)/\1/' \
	"$conf" >"$T/every-key.conf"
expect_exit 0 "$R/usr/bin/cardnode" -c "$T/every-key.conf" --check-config
assert_grep "^ok: .*, 2 peers\\)" "$OUT" "--check-config with every key set"

# Every key of docs/cardnode.md is in the sample and in cardnode.conf(5).
sed -n '/^## Configuration/,/^### Errors/p' "$CN_SRC/docs/cardnode.md" |
	sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' >"$T/keys"
[ "$(wc -l <"$T/keys")" -ge 14 ] || fail "cannot read the keys of docs/cardnode.md"
zcat "$R/usr/share/man/man5/cardnode.conf.5.gz" |
	groff -man -Tutf8 -P-cbou 2>/dev/null >"$T/conf5.txt"
while read -r key; do
	assert_grep "^;?$key = " "$T/every-key.conf" "sample conf: key $key"
	assert_grep "^ {7}$key " "$T/conf5.txt" "cardnode.conf(5): key $key"
done <"$T/keys"

say "manual pages: gzip -9n, no warning from groff or man"
for page in man8/cardnode.8 man8/cardctl.8 man5/cardnode.conf.5; do
	gz=$R/usr/share/man/$page.gz
	zcat "$gz" | gzip -9n | cmp -s - "$gz" || fail "$page.gz is not gzip -9n"
	zcat "$gz" | groff -man -Tutf8 -ww -z 2>"$ERR" || fail "groff failed on $page"
	[ ! -s "$ERR" ] || { cat "$ERR" >&2; fail "groff warns on $page"; }
	if command -v man >/dev/null 2>&1; then
		MANWIDTH=80 man --warnings -l "$gz" >"$OUT" 2>"$ERR" ||
			fail "man -l failed on $page"
		[ ! -s "$ERR" ] || { cat "$ERR" >&2; fail "man warns on $page"; }
		assert_grep '^NAME' "$OUT" "$page rendered"
	fi
done

say "systemd unit"
unit=$R/lib/systemd/system/cardnode.service
for line in 'User=cardnode' 'Group=cardnode' 'SupplementaryGroups=dialout plugdev' \
	'ExecStart=/usr/bin/cardnode -c /etc/cardnode/cardnode.conf' \
	'ExecStartPre=/usr/bin/cardnode -c /etc/cardnode/cardnode.conf --check-config' \
	'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' \
	'NoNewPrivileges=yes' 'ProtectSystem=strict' \
	'ReadWritePaths=/var/lib/cardnode' 'PrivateTmp=yes' 'ProtectHome=yes' \
	'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' \
	'ProtectControlGroups=yes' 'PrivateDevices=no' \
	'WantedBy=multi-user.target'; do
	grep -qxF -- "$line" "$unit" || fail "the unit lacks '$line'"
done
assert_grep '^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6( |$)' "$unit" \
	"RestrictAddressFamilies"
if command -v systemd-analyze >/dev/null 2>&1; then
	# Pointed at the scratch root's binary; no man pages installed to check.
	mkdir "$T/unit"
	sed -e "s|/usr/bin/cardnode|$R/usr/bin/cardnode|g" -e '/^Documentation=/d' \
		"$unit" >"$T/unit/cardnode.service"
	systemd-analyze verify "$T/unit/cardnode.service" >"$OUT" 2>&1 ||
		{ cat "$OUT" >&2; fail "systemd-analyze verify"; }
	[ ! -s "$OUT" ] || { cat "$OUT" >&2; fail "systemd-analyze verify warns"; }
else
	echo "(systemd-analyze not installed: unit not verified)"
fi

say "maintainer scripts, run against stub commands"
dpkg-deb -e "$deb" "$T/control"
for s in postinst prerm postrm; do
	[ -x "$T/control/$s" ] || fail "$s missing or not executable"
	sh -n "$T/control/$s" || fail "$s: syntax"
done
mkdir "$T/stubs"
for c in adduser deluser delgroup getent dpkg-statoverride install rm \
	systemctl deb-systemd-invoke; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n%s\n' "$c" "$T/calls" \
		"$( [ "$c" = dpkg-statoverride ] && echo 'exit 1' || echo 'exit 0')" \
		>"$T/stubs/$c"
	chmod +x "$T/stubs/$c"
done
PATH="$T/stubs:$PATH" sh "$T/control/postinst" configure ""
for call in \
	'adduser --quiet --system --group --home /var/lib/cardnode --no-create-home cardnode' \
	'adduser --quiet cardnode dialout' 'adduser --quiet cardnode plugdev' \
	'install -d -o cardnode -g cardnode -m 0700 /var/lib/cardnode'; do
	grep -qxF "$call" "$T/calls" || { cat "$T/calls" >&2; fail "postinst: no '$call'"; }
done
: >"$T/calls"
PATH="$T/stubs:$PATH" sh "$T/control/postrm" purge 2>"$ERR"
touch "$T/calls"
assert_no_grep '^(install|adduser|deluser|delgroup|rm) ' "$T/calls" \
	"postrm purge keeps the data and the user"
assert_grep 'keeping /var/lib/cardnode' "$T/control/postrm" "postrm says so"

say "bash completion"
comp=$R/usr/share/bash-completion/completions/cardctl
bash -n "$comp" || fail "completion: syntax"
if [ -f /usr/share/bash-completion/bash_completion ]; then
	# complete WORDS…: what the completion offers for the last word.
	cat >"$T/complete.bash" <<'EOF'
. /usr/share/bash-completion/bash_completion
. "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_cardctl cardctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
EOF
	bash "$T/complete.bash" "$comp" cardctl st >"$OUT"
	assert_eq "$(printf 'student\nstatus')" "$(cat "$OUT")" "complete 'cardctl st'"
	bash "$T/complete.bash" "$comp" cardctl -d x card f >"$OUT"
	assert_eq "$(printf 'found\nfreeze')" "$(cat "$OUT")" "complete 'card f'"
	bash "$T/complete.bash" "$comp" cardctl card issue C1 --s >"$OUT"
	assert_eq "--student" "$(cat "$OUT")" "complete 'card issue --s'"
	bash "$T/complete.bash" "$comp" cardctl init --role s >"$OUT"
	assert_eq "$(printf 'school\nservice')" "$(cat "$OUT")" "complete '--role s'"
else
	echo "(bash-completion not installed: completions not exercised)"
fi

say "lintian: no error"
allow_root=""
[ "$(id -u)" -ne 0 ] || allow_root=--allow-root # said to be unwise, not wrong
set +e
lintian $allow_root "$deb" >"$OUT" 2>&1
set -e
cat "$OUT"
assert_no_grep '^E: ' "$OUT" "lintian"

say "ok"
