# bench/lib.sh: helpers shared by bench/init.sh and bench/pool.sh (sourced, not run).
# shellcheck shell=bash

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${OUT:-$BENCH_DIR/out}" # gitignored: binaries, raw logs and data of the last run
PY=/usr/bin/python3          # Debian's, which has uvicorn, fastapi and gunicorn (not pyenv's)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# need checks the tools a script uses and points at .ci/deps.
need() {
	local t missing=()
	for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
	[[ ${#missing[@]} -eq 0 ]] || die "missing ${missing[*]}: run .ci/deps"
}

# Every process a script starts in the background is recorded here (track) and ended on exit
# (cleanup), with its session: the managers and inits are started with setsid, so their workers
# and children share their session id even in process groups of their own. Only processes that
# are still this script's children, and members of their sessions, are signalled, each checked by
# pid and start time, so that a recycled pid is never hit.
STARTED=()
track() { STARTED+=("$1"); }

# proc_key pid: "pid:starttime", or nothing when the process is gone.
proc_key() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	echo "$1:$(cut -d' ' -f20 <<<"$stat")"
}

# proc_ppid pid: the parent's pid, or nothing when the process is gone.
proc_ppid() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	cut -d' ' -f2 <<<"$stat"
}

# session_keys pid: proc_key of pid and of every other process in the session it leads.
session_keys() {
	local p
	proc_key "$1"
	for p in $(ps -e -o pid=,sid= | awk -v s="$1" '$2 == s && $1 != s {print $1}'); do
		proc_key "$p"
	done
}

# kill_keys SIG key...: signal each process still alive with the same start time.
kill_keys() {
	local sig=$1 key
	shift
	for key in "$@"; do
		if [[ -n $key && $(proc_key "${key%%:*}") == "$key" ]]; then
			kill "-$sig" "${key%%:*}" 2>/dev/null || true
		fi
	done
}

cleanup() {
	local pid victims=()
	for pid in "${STARTED[@]}"; do
		[[ $(proc_ppid "$pid") == "$$" ]] || continue # gone (and maybe recycled): leave it
		# Everything in its session (workers in their own process groups included).
		mapfile -t -O "${#victims[@]}" victims < <(session_keys "$pid")
	done
	STARTED=()
	[[ ${#victims[@]} -gt 0 ]] || return 0
	kill_keys TERM "${victims[@]}"
	sleep 1
	kill_keys KILL "${victims[@]}"
	wait 2>/dev/null || true
}

# waitfor CMD...: run CMD in the background and wait for it, so that a signal to the script
# is handled at once (bash runs traps only between foreground commands) and CMD is ended too.
waitfor() {
	"$@" &
	local p=$!
	track "$p"
	wait "$p"
}

# build puts pinit (stripped and not), loadclient and orphans in $OUT/bin.
build() {
	mkdir -p "$OUT/bin"
	log "building pinit and the bench tools into $OUT/bin"
	(
		cd "$REPO_DIR" || exit 1
		CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$OUT/bin/pinit" .
		CGO_ENABLED=0 go build -trimpath -o "$OUT/bin/pinit-unstripped" .
		CGO_ENABLED=0 go build -trimpath -o "$OUT/bin/loadclient" ./bench/loadclient
		CGO_ENABLED=0 go build -trimpath -o "$OUT/bin/orphans" ./bench/orphans
	)
}

# machine describes the box once.
machine() {
	printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	printf -- '- machine: %s CPUs, %s, %s MiB RAM, kernel %s\n' "$(nproc)" \
		"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
		"$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024))" "$(uname -r)"
	printf -- '- pinit: %s, built from the working tree (%s)\n' "$(git -C "$REPO_DIR" describe --always --dirty 2>/dev/null || echo '?')" "$(go version | awk '{print $3}')"
}

# busy prints how loaded the machine is right now: load averages and the CPU idle % that
# top measures over half a second (its second sample; the first is since boot).
busy() {
	local idle
	idle=$(top -bn2 -d0.5 | awk -F',' '/^%Cpu/ { for (i = 1; i <= NF; i++) if ($i ~ / id/) { gsub(/[^0-9.]/, "", $i); v = $i } } END { print v }')
	printf 'load %s, cpu idle %s%%' "$(cut -d' ' -f1-3 /proc/loadavg)" "${idle:-?}"
}

# median of the numbers on stdin (one per line); NA when none.
median() {
	sort -g | awk '{a[NR] = $1} END { if (NR == 0) { print "NA"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# nums [file]: only the lines that are numbers (drops NA and empty lines), never failing.
nums() { grep -E '^-?[0-9]+(\.[0-9]+)?$' "$@" || true; }

# ratio a b: a/b with 2 decimals, NA if either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b + 0 == 0) print "NA"; else printf "%.2f\n", a / b }'
}

# free_port prints a loopback TCP port that is free now.
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# field key line: the value of key=value in a RESULT/KILL/ORPHANS line.
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }

# rotate n i: the order of n items in round i (each item leads once in n rounds).
rotate() { local n=$1 i=$2 j; for ((j = 0; j < n; j++)); do echo $(((i + j) % n)); done; }

# mem pid: "rss_kb pss_kb anon_kb file_kb threads" of a process.
mem() {
	local f=/proc/$1/status
	[[ -r $f ]] || { echo "NA NA NA NA NA"; return; }
	echo "$(awk '/^VmRSS:/ {print $2}' "$f") $(awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup") \
$(awk '/^RssAnon:/ {print $2}' "$f") $(awk '/^RssFile:/ {print $2}' "$f") $(awk '/^Threads:/ {print $2}' "$f")"
}
