#!/usr/bin/env bash
# run.sh: the remote entry of a correctly training bundle. `correctly train push` starts it detached
# (setsid, stdio redirected) from the run directory; it never needs the connection that launched it.
#
#   bash run.sh [--no-install]
#
# State it keeps, for `correctly train status`:
#   state/pid        its own pid (also the process group and session id)
#   state/phase      setting_up | running | done
#   state/heartbeat  touched every state/heartbeat_seconds seconds (default 5) while it lives
#   state/progress   touched by train.py as it trains (CORRECTLY_PROGRESS_FILE)
#   state/exit_code  the trainer's exit status, written atomically when it ends
# Logs (stdout and stderr of everything) go to logs/train.log. Secrets arrive as 0600 files in
# state/secrets/NAME; each is exported as environment variable NAME to the trainer only (never to
# pip), and the files are removed when the job ends. The file state/no_install (or --no-install)
# skips the virtualenv and `pip install -r requirements.txt`. When state/watch.json exists,
# watchdog.py runs beside the job in a session of its own: max duration, stall, stopping the box.
set -u
cd "$(dirname "$0")" || exit 97
mkdir -p state logs output

atomic() { # atomic FILE VALUE: readers see the old value or the new one, never half
	printf '%s\n' "$2" >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
}

atomic state/pid "$$"
exec </dev/null >>logs/train.log 2>&1

hb=$(cat state/heartbeat_seconds 2>/dev/null)
case $hb in '' | *[!0-9]*) hb=5 ;; esac
(
	while kill -0 "$$" 2>/dev/null; do
		touch state/heartbeat
		sleep "$hb"
	done
) >/dev/null 2>&1 &

# The secrets live as long as the job: removed however it ends (a KILL leaves that to the watchdog).
remove_secrets() { rm -f state/secrets/* 2>/dev/null; }
trap remove_secrets EXIT

if [ -s state/watch.json ] && [ -f watchdog.py ]; then
	# its own session, and not our child: cancelling the job does not end the watchdog
	(setsid python3 watchdog.py "$$" </dev/null >>logs/watchdog.log 2>&1 &)
fi

atomic state/phase setting_up
echo "[run.sh] $(date -u +%Y-%m-%dT%H:%M:%SZ) setting up on $(hostname)"

no_install=
[ -e state/no_install ] && no_install=1
for arg in "$@"; do
	[ "$arg" = --no-install ] && no_install=1
done

py=python3
if [ -z "$no_install" ] && [ -s requirements.txt ]; then
	if [ -x .venv/bin/python3 ] || python3 -m venv --system-site-packages .venv; then
		py=.venv/bin/python3
	else
		echo "[run.sh] python3 -m venv failed; installing with pip --user"
	fi
	if ! "$py" -m pip install --disable-pip-version-check -r requirements.txt; then
		echo "[run.sh] pip install failed"
		atomic state/phase done
		atomic state/exit_code 98
		exit 98
	fi
fi

atomic state/phase running
echo "[run.sh] $(date -u +%Y-%m-%dT%H:%M:%SZ) training"

# The trainer runs in the background so that a TERM reaches this script's trap while it waits. It
# alone gets the secrets, as environment variables.
trap 'echo "[run.sh] terminating"; kill -TERM "$child" 2>/dev/null' TERM INT HUP
export CORRECTLY_PROGRESS_FILE="$PWD/state/progress"
(
	if [ -d state/secrets ]; then
		for f in state/secrets/*; do
			[ -f "$f" ] || continue
			name=${f##*/}
			case $name in
			'' | [0-9]* | *[!A-Za-z0-9_]*) continue ;;
			esac
			export "$name=$(cat "$f")"
		done
	fi
	exec "$py" train.py
) &
child=$!
while :; do
	wait "$child"
	code=$?
	kill -0 "$child" 2>/dev/null || break
done

echo "[run.sh] $(date -u +%Y-%m-%dT%H:%M:%SZ) trainer exited with status $code"
remove_secrets
atomic state/phase done
atomic state/exit_code "$code"
exit "$code"
