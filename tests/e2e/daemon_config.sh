#!/bin/sh
# daemon_config.sh — cardnode's command line and configuration file: every
# mistake stops the daemon at start with the file, the line and what is
# wrong; --check-config says the same without starting; a data dir with
# loose modes or an unreadable key is refused.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/helpers.inc"
. "$here/daemon.inc"

deploy
node_init n school 110101-0001

say "command line"
expect_exit 0 "$CARDNODE" --help
assert_grep '^usage: cardnode -c FILE' "$OUT" "--help"
expect_exit 0 "$CARDNODE" --version
assert_grep '^cardnode [0-9]+\.[0-9]+\.[0-9]+$' "$OUT" "--version"
expect_exit 2 "$CARDNODE"
assert_grep 'cardnode: -c FILE is required' "$ERR" "no -c"
expect_exit 2 "$CARDNODE" --frobnicate
assert_grep "unknown argument '--frobnicate'" "$ERR" "unknown argument"
expect_exit 2 "$CARDNODE" -c "$T/missing.conf"
assert_grep 'missing.conf: No such file' "$ERR" "missing file"

# bad LINE… : a config with these lines after a valid [node] section must
# be refused (exit 2) naming the file and line; $1 is the expected reason.
bad() {
	want_=$1
	shift
	{
		echo "[node]"
		echo "data_dir = $T/n"
		for l_ in "$@"; do
			echo "$l_"
		done
	} >"$T/bad.conf"
	expect_exit 2 "$CARDNODE" -c "$T/bad.conf" --check-config
	assert_grep "bad.conf:[0-9]+: .*$want_" "$ERR" "config with '$*'"
	expect_exit 2 "$CARDNODE" -c "$T/bad.conf"
	assert_grep "bad.conf:[0-9]+: .*$want_" "$ERR" "daemon with '$*'"
}

say "configuration mistakes: file, line, reason"
bad "unknown key 'colour' in \[node\]" "colour = blue"
bad "unknown section \[nodes\]" "[nodes]" "x = 1"
bad "log_level 'loud' is not one of" "log_level = loud"
bad "'listen' is set twice" "listen = 127.0.0.1:1" "listen = 127.0.0.1:2"
bad "listen 'here' is not IP:PORT" "listen = here"
bad "listen 'localhost:7420' is not IP:PORT" "listen = localhost:7420"
bad "peer 'a:b:7420' is not HOST:PORT" "[peers]" "peer = a:b:7420"
bad "peer '127.0.0.1:0' is not HOST:PORT" "[peers]" "peer = 127.0.0.1:0"
bad "keepalive '0' is not 1–3600" "keepalive = 0"
bad "dead_after 'soon' is not" "dead_after = soon"
bad "watermark_interval '-5' is not" "watermark_interval = -5"
bad "max_connections '70000' is not" "max_connections = 70000"
bad "peer 'nowhere' is not HOST:PORT" "[peers]" "peer = nowhere"
bad "peer '127.0.0.1:9' is listed twice" "[peers]" "peer = 127.0.0.1:9" "peer = 127.0.0.1:9"
bad "reader mode 'exit' is not one of" "[reader]" "mode = exit"
bad "reader device 'usb' is not none" "[reader]" "device = usb"
bad "nfc: needs a libnfc connstring" "[reader]" "device = nfc:"
bad "sim: an absolute socket path" "[reader]" "device = sim:reader.sock"
bad "flag_stale 'maybe' is not yes or no" "[reader]" "flag_stale = maybe"
bad "tap_log_days '0' is not 1–3650" "[reader]" "tap_log_days = 0"
bad "not a valid line" "this is not ini"
printf '[node]\nlisten = 127.0.0.1:0\n' >"$T/nodir.conf"
expect_exit 2 "$CARDNODE" -c "$T/nodir.conf"
assert_grep 'data_dir is required' "$ERR" "no data_dir"
printf '[node]\ndata_dir = %s/n\nkeepalive = 9\ndead_after = 9\n' "$T" >"$T/ka.conf"
expect_exit 2 "$CARDNODE" -c "$T/ka.conf"
assert_grep 'keepalive \(9 s\) must be shorter than dead_after' "$ERR" "keepalive ≥ dead_after"

say "a good configuration"
node_conf n 0
expect_exit 0 "$CARDNODE" -c "$T/n.conf" --check-config
assert_grep "^ok: .*n.conf \(data dir .*/n, 0 peers\)" "$OUT" "--check-config"

say "the data dir: missing, loose modes, unreadable key"
printf '[node]\ndata_dir = %s/nothing\n' "$T" >"$T/nothing.conf"
expect_exit 3 "$CARDNODE" -c "$T/nothing.conf" --check-config
expect_exit 3 "$CARDNODE" -c "$T/nothing.conf"
assert_grep 'data dir .*/nothing' "$ERR" "missing data dir"
chmod 0755 "$T/n"
expect_exit 3 "$CARDNODE" -c "$T/n.conf"
assert_grep 'chmod' "$ERR" "loose data dir mode: the fix is named"
chmod 0700 "$T/n"
key=$(ls "$T/n" | grep -E 'identity|secret' | head -n 1)
[ -n "$key" ] || fail "no key file found in the data dir"
chmod 0644 "$T/n/$key"
expect_exit 3 "$CARDNODE" -c "$T/n.conf"
assert_grep "$key" "$ERR" "a readable-by-all key file is named"
chmod 0600 "$T/n/$key"
echo "refused: missing data dir, 0755 data dir, 0644 $key"

say "start and stop; one daemon per data dir"
node_start n
node_conf n2 0
sed -i "s|data_dir = .*|data_dir = $T/n|" "$T/n2.conf"
expect_exit 3 "$CARDNODE" -c "$T/n2.conf"
assert_grep 'another cardnode is running on' "$ERR" "a second daemon on one data dir"
node_stop n
assert_grep 'info  stopped' "$T/n.log" "clean stop logged"
echo "daemon_config: ok"
