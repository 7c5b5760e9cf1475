#!/usr/bin/env bash
# chroma.sh start|stop|status [DIR] [PORT]
#
# Runs a local Chroma 1.x server (the Rust server shipped in the npm package
# chromadb@3.5.0) for correctly's tests, CI and contributors.
#
#   start   install the server into the cache if needed, start it with its data in
#           DIR on 127.0.0.1:PORT, wait until /api/v2/heartbeat answers, and print
#           CHROMA_URL=http://127.0.0.1:PORT on stdout. Idempotent: a server already
#           running for DIR is reused.
#   stop    stop the server for DIR (SIGINT: SIGTERM leaves it spinning a core).
#           No error when it is not running.
#   status  print CHROMA_URL=... and exit 0 when it answers, exit 1 otherwise.
#
# DIR defaults to $CACHE/data, PORT to 8000. The cache is
# ${CORRECTLY_CACHE:-$HOME/.cache/correctly}/chroma; nothing is written to the
# repository or the system. The npm bindings need glibc >= 2.39: on older systems
# (Debian 12 has 2.36) the script downloads libc6, libstdc++6 and libgcc-s1 from
# Debian trixie (from the mirror this system's apt uses) with a private apt
# state, unpacks them into the cache, and starts node through that loader.
# Needs node >= 20 and npm. Progress goes to stderr; only the URL goes to stdout.
set -euo pipefail

CHROMA_VERSION=3.5.0
CACHE="${CORRECTLY_CACHE:-$HOME/.cache/correctly}/chroma"
cmd="${1:-}"
DIR="${2:-$CACHE/data}"
PORT="${3:-8000}"
URL="http://127.0.0.1:$PORT"

log() { printf 'chroma.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() { die "usage: chroma.sh start|stop|status [DIR] [PORT]"; }

heartbeat() {
	if command -v curl >/dev/null; then
		curl -fsS --max-time 2 "$1/api/v2/heartbeat" >/dev/null 2>&1
	else
		node -e 'fetch(process.argv[1], {signal: AbortSignal.timeout(2000)}).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1/api/v2/heartbeat" 2>/dev/null
	fi
}

# debian_mirror prints the Debian archive this system's apt already uses
# (CORRECTLY_DEBIAN_MIRROR overrides it).
debian_mirror() {
	if [ -n "${CORRECTLY_DEBIAN_MIRROR:-}" ]; then
		echo "$CORRECTLY_DEBIAN_MIRROR"
		return
	fi
	local codename
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v c="$codename" '$2 == c { print $1; exit }'
}

# glibc_ok succeeds when the system C library is new enough for the bindings.
glibc_ok() {
	local v
	v="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
	[ -n "$v" ] || return 1
	[ "$(printf '%s\n%s\n' 2.39 "$v" | sort -V | head -1)" = 2.39 ]
}

install_server() {
	local mod="$CACHE/node/node_modules/chromadb/dist/cli.mjs"
	if [ ! -f "$mod" ] || [ ! -d "$CACHE/node/node_modules/chromadb-js-bindings-linux-x64-gnu" ]; then
		command -v npm >/dev/null || die "npm not found: install Node.js 20+ (apt-get install -y nodejs npm)"
		log "installing chromadb@$CHROMA_VERSION into $CACHE/node"
		mkdir -p "$CACHE/node"
		[ -f "$CACHE/node/package.json" ] || echo '{"private":true}' >"$CACHE/node/package.json"
		(cd "$CACHE/node" && npm install --no-audit --no-fund --loglevel=error "chromadb@$CHROMA_VERSION" >&2) ||
			die "npm install chromadb@$CHROMA_VERSION failed (see above)"
	fi
	if glibc_ok; then
		return 0
	fi
	local L="$CACHE/glibc/usr/lib/x86_64-linux-gnu"
	if [ -x "$L/ld-linux-x86-64.so.2" ] && [ -f "$L/libstdc++.so.6" ] && [ -f "$L/libgcc_s.so.1" ]; then
		return 0
	fi
	log "system glibc is older than 2.39: fetching libc6, libstdc++6, libgcc-s1 from Debian trixie into $CACHE/glibc"
	local apt="$CACHE/apt"
	rm -rf "$apt" "$CACHE/glibc.tmp"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$CACHE/glibc.tmp"
	local mirror
	mirror="$(debian_mirror)"
	[ -n "$mirror" ] || die "cannot tell which Debian mirror apt uses: set CORRECTLY_DEBIAN_MIRROR to its URL"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$apt/sources.list"
	local opts=(
		-q
		"-oDir::Etc::SourceList=$apt/sources.list"
		-oDir::Etc::SourceParts=/dev/null
		"-oDir::State::Lists=$apt/lists"
		"-oDir::Cache=$apt/cache"
		-oAPT::Sandbox::User=root
		-oDebug::NoLocking=1
	)
	apt-get "${opts[@]}" update >&2 || die "apt-get update for Debian trixie failed (see above)"
	(cd "$apt/debs" && apt-get "${opts[@]}" download libc6 libstdc++6 libgcc-s1 >&2) ||
		die "apt-get download libc6 libstdc++6 libgcc-s1 from trixie failed (see above)"
	local deb
	for deb in "$apt/debs"/*.deb; do
		dpkg -x "$deb" "$CACHE/glibc.tmp"
	done
	rm -rf "$CACHE/glibc"
	mv "$CACHE/glibc.tmp" "$CACHE/glibc"
	rm -rf "$apt"
}

pidfile() { echo "$DIR/chroma.pid"; }

# running prints the pid of the server for DIR when it is alive.
running() {
	local f pid
	f="$(pidfile)"
	[ -f "$f" ] || return 1
	pid="$(head -1 "$f")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

start() {
	mkdir -p "$DIR"
	local pid port
	if pid="$(running)"; then
		port="$(sed -n 2p "$(pidfile)")"
		if heartbeat "http://127.0.0.1:$port"; then
			[ "$port" = "$PORT" ] || log "server for $DIR already runs on port $port, not $PORT"
			echo "CHROMA_URL=http://127.0.0.1:$port"
			return 0
		fi
	fi
	if heartbeat "$URL"; then
		die "port $PORT already answers as a Chroma server not started for $DIR: stop it or pick another port"
	fi
	# Serialise installs across concurrent callers (parallel test binaries).
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.install.lock"
	flock 9
	install_server
	exec 9>&-

	local cli="$CACHE/node/node_modules/chromadb/dist/cli.mjs"
	local node
	node="$(command -v node)" || die "node not found: install Node.js 20+"
	local logf="$DIR/chroma.log"
	# Job control gives the server its own process group and leaves SIGINT
	# deliverable (non-interactive shells ignore SIGINT in background jobs).
	set -m
	if glibc_ok; then
		"$node" "$cli" run --path "$DIR" --port "$PORT" </dev/null >"$logf" 2>&1 &
	else
		local L="$CACHE/glibc/usr/lib/x86_64-linux-gnu"
		"$L/ld-linux-x86-64.so.2" --library-path "$L" "$node" "$cli" run --path "$DIR" --port "$PORT" </dev/null >"$logf" 2>&1 &
	fi
	pid=$!
	set +m
	printf '%s\n%s\n' "$pid" "$PORT" >"$(pidfile)"
	local i
	for i in $(seq 1 300); do
		if heartbeat "$URL"; then
			echo "CHROMA_URL=$URL"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$(pidfile)"
			log "server exited during start; its log ($logf):"
			tail -n 40 "$logf" >&2 || true
			exit 1
		fi
		sleep 0.2
	done
	log "server did not answer $URL/api/v2/heartbeat within 60s; its log ($logf):"
	tail -n 40 "$logf" >&2 || true
	kill -INT "$pid" 2>/dev/null || true
	rm -f "$(pidfile)"
	exit 1
}

stop() {
	local pid i
	if ! pid="$(running)"; then
		rm -f "$(pidfile)"
		return 0
	fi
	kill -INT "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "server $pid ignored SIGINT for 10s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$(pidfile)"
}

status() {
	local pid port
	if pid="$(running)"; then
		port="$(sed -n 2p "$(pidfile)")"
		if heartbeat "http://127.0.0.1:$port"; then
			echo "CHROMA_URL=http://127.0.0.1:$port"
			return 0
		fi
		log "server $pid for $DIR runs but does not answer on port $port"
		exit 1
	fi
	log "no server running for $DIR"
	exit 1
}

case "$cmd" in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
