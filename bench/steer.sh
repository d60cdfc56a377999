#!/usr/bin/env bash
# bench/steer.sh: pinit's steering (issue 9) against the same pool without it and against
# Gunicorn (UvicornWorker), the same FastAPI app (bench/app.py), 2 workers each, on loopback.
#   (1) crash: kill -9 of one worker under a steady load of fresh connections; requests over
#       1 s and failed in the 5 s after the kill; once with the app as it is, once with an
#       app that sleeps IMPORT_SLEEP seconds at import (a slow replacement), for every manager
#   (2) hang: kill -STOP of one worker for HANG_FOR seconds under the same load, then
#       kill -CONT; WORKER_TIMEOUT=5s for pinit, --timeout 5 for Gunicorn
#   (3) steady state: wrk requests/s and p99 with steering on and off, keep-alive and
#       fresh connections, interleaved rounds
# "pinit-off" is pinit under the test worker's seccomp wrapper (testworker no-reuseport-bpf),
# which makes the kernel refuse the steering program: pinit falls back to the kernel's
# hashing, as where a sandbox refuses it; /health says "steering":"kernel" (checked).
# Prints a markdown report (also kept in bench/out/steer.md); raw data in bench/out/steer/.
# Knobs: CRASH_ROUNDS, HANG_ROUNDS, TPUT_ROUNDS, DURATION, CONNS, CLIENTS, PACED, IMPORT_SLEEP,
# HANG_FOR, TIMEOUT; SECTIONS="crash hang tput" (a subset runs only those).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CRASH_ROUNDS=${CRASH_ROUNDS:-3} # per variant; each manager once per round, order rotated
HANG_ROUNDS=${HANG_ROUNDS:-3}
TPUT_ROUNDS=${TPUT_ROUNDS:-5}
DURATION=${DURATION:-10s}     # per wrk run
CONNS=${CONNS:-64}            # wrk connections (2 threads)
CLIENTS=${CLIENTS:-8}         # loadclient goroutines, one new connection per request
PACED=${PACED:-50}            # req/s of the open-loop stream that runs alongside them
IMPORT_SLEEP=${IMPORT_SLEEP:-3} # s, the slow variant of the crash rows
HANG_FOR=${HANG_FOR:-10}      # s between kill -STOP and kill -CONT
TIMEOUT=${TIMEOUT:-5}         # s, WORKER_TIMEOUT / --timeout of the hang rows
CRASH_WINDOW=5                # s after the kill that are counted
CLIENT_TIMEOUT=15s            # per request: long enough to see every request's fate
GRACE=9
SECTIONS=${SECTIONS:-crash hang tput}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

need go wrk curl top gunicorn setsid
"$PY" -c 'import uvicorn, fastapi' 2>/dev/null || die "$PY lacks uvicorn or fastapi: run .ci/deps"
trap cleanup EXIT
trap 'exit 130' INT TERM

build
B=$OUT/bin
(cd "$REPO_DIR" && CGO_ENABLED=0 go build -trimpath -o "$B/testworker" ./integration/testdata/testworker)
RAW=$OUT/steer
rm -rf "$RAW" && mkdir -p "$RAW"
cd "$BENCH_DIR" # app.py is here

MGRS=(pinit pinit-off gunicorn)
declare -A PORT PID HPORT
declare -A WANT=([pinit]=bpf [pinit-off]=kernel [pinit-sc]=bpf)
APP_ENV=() # extra environment of the app, per section
WT=""      # WORKER_TIMEOUT (pinit) / --timeout (Gunicorn) in s; empty: their defaults (30 s)

# start m: start manager m in its own session on fresh ports, with APP_ENV and WT.
start() {
	local m=$1 log=$RAW/$1.log
	PORT[$m]=$(free_port) HPORT[$m]=$(free_port)
	local penv=(WORKERS=2 "LISTEN=127.0.0.1:${PORT[$m]}" "HEALTH_LISTEN=127.0.0.1:${HPORT[$m]}" "GRACE_TIMEOUT=${GRACE}s")
	[[ -n $WT ]] && penv+=("WORKER_TIMEOUT=${WT}s")
	local ucmd=("$PY" -m uvicorn app:app --fd 3 --no-access-log)
	echo "=== $(date +%T.%N) start ${APP_ENV[*]} WT=$WT" >>"$log"
	case $m in
	pinit)
		env "${APP_ENV[@]}" "${penv[@]}" setsid "$B/pinit" "${ucmd[@]}" </dev/null >>"$log" 2>&1 &
		;;
	pinit-off)
		env "${APP_ENV[@]}" "${penv[@]}" setsid "$B/testworker" no-reuseport-bpf "$B/pinit" "${ucmd[@]}" \
			</dev/null >>"$log" 2>&1 &
		;;
	pinit-sc) # steering on, the workers under the same seccomp filter as pinit-off's
		env "${APP_ENV[@]}" "${penv[@]}" setsid "$B/pinit" "$B/testworker" no-reuseport-bpf "${ucmd[@]}" \
			</dev/null >>"$log" 2>&1 &
		;;
	gunicorn)
		local gargs=(-k uvicorn.workers.UvicornWorker -w 2 -b "127.0.0.1:${PORT[$m]}" --keep-alive 5 --graceful-timeout "$GRACE")
		[[ -n $WT ]] && gargs+=(--timeout "$WT")
		env "${APP_ENV[@]}" setsid "$PY" "$(command -v gunicorn)" "${gargs[@]}" app:app </dev/null >>"$log" 2>&1 &
		;;
	esac
	PID[$m]=$! # env, setsid and the seccomp wrapper all exec: this is the manager itself
	track "${PID[$m]}"
}

# workers m: the worker pids of manager m.
workers() { ps -o pid= --ppid "${PID[$1]}" | tr -d ' '; }

# settled m: wait until m has 2 workers, each of which has answered /pid, and (pinit) /ready
# is 200 with the steering the variant is meant to have. At most 60 s.
settled() {
	local m=$1 end=$((SECONDS + 60)) seen=" " ws w pid ok
	while ((SECONDS < end)); do
		pid=$(curl -s --max-time 1 "http://127.0.0.1:${PORT[$m]}/pid" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p' || true)
		[[ -n $pid ]] && seen+="$pid "
		mapfile -t ws < <(workers "$m")
		ok=1
		[[ ${#ws[@]} -eq 2 ]] || ok=0
		for w in "${ws[@]}"; do [[ $seen == *" $w "* ]] || ok=0; done
		if ((ok)) && [[ $m == pinit* ]]; then
			curl -sf --max-time 1 "http://127.0.0.1:${HPORT[$m]}/ready" >/dev/null || ok=0
		fi
		((ok)) && return 0
		sleep 0.05
	done
	die "$m did not serve with 2 workers within 60 s (see $RAW/$m.log)"
}

# steering m: check that pinit runs with the steering its variant is meant to have.
steering() {
	local m=$1 got
	[[ -n ${WANT[$m]:-} ]] || return 0
	got=$(curl -s --max-time 2 "http://127.0.0.1:${HPORT[$m]}/health" | sed -n 's/.*"steering":"\([a-z]*\)".*/\1/p')
	[[ $got == "${WANT[$m]}" ]] || die "$m: /health says steering \"$got\", want \"${WANT[$m]}\""
}

# stop m: SIGTERM the manager and wait for it; SIGKILL what is left of its session after 15 s.
stop() {
	local pid=${PID[$1]} i keys
	mapfile -t keys < <(session_keys "$pid")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do [[ -n $(proc_key "$pid") ]] || break; sleep 0.1; done
	kill_keys KILL "${keys[@]}"
	wait "$pid" 2>/dev/null || true
}

start_all() {
	local m
	for m in "${MGRS[@]}"; do start "$m"; done
	for m in "${MGRS[@]}"; do settled "$m"; steering "$m"; done
}
stop_all() { local m; for m in "${MGRS[@]}"; do stop "$m"; done; }

# oldest m: "age pid" of the oldest worker of m.
oldest() {
	local w
	for w in $(workers "$1"); do echo "$(ps -o etimes= -p "$w" | tr -d ' ') $w"; done | sort -rn | head -1
}

# victim m: the oldest worker, once it is at least 11 s old (pinit replaces a worker that ran
# 10 s at once, a younger one after its backoff: every manager should get the same chance).
victim() {
	local v
	v=$(oldest "$1")
	((${v% *} >= 11)) || sleep $((11 - ${v% *}))
	echo "${v#* }"
}

# cpu_ticks m: user + system clock ticks used so far by manager m and its workers (children).
cpu_ticks() {
	local p t=0 stat
	for p in "${PID[$1]}" $(workers "$1"); do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		stat=${stat##*) }
		t=$((t + $(cut -d' ' -f12 <<<"$stat") + $(cut -d' ' -f13 <<<"$stat")))
	done
	echo "$t"
}

# compare mode a b what: a / b for requests/s (ratio of the medians, per-round ratios and their
# median) and p99 (ratio of the medians) of wrk runs in the given mode.
compare() {
	local mode=$1 a=$2 b=$3 paired
	paired=$(paste "$RAW/rps-$mode-$a" "$RAW/rps-$mode-$b" | awk '{printf "%.3f\n", $1 / $2}')
	local cpu
	cpu=$(paste "$RAW/cpu-$mode-$a" "$RAW/cpu-$mode-$b" | awk '{printf "%.3f\n", $1 / $2}' | median)
	echo "- $4: requests/s $(awk -v a="$(median <"$RAW/rps-$mode-$a")" -v b="$(median <"$RAW/rps-$mode-$b")" 'BEGIN {printf "%.3f", a / b}') (medians);" \
		"per round $(paste -sd' ' <<<"$paired"), median $(median <<<"$paired");" \
		"p99 $(awk -v a="$(median <"$RAW/p99-$mode-$a")" -v b="$(median <"$RAW/p99-$mode-$b")" 'BEGIN {printf "%.3f", a / b}') (medians);" \
		"server CPU per request $cpu (median of the per-round ratios)"
}

# stalls m: how many times pinit has logged a slot stalled so far (0 for Gunicorn).
stalls() {
	[[ $1 == pinit* ]] || { echo 0; return; }
	grep -c '"slot stalled' "$RAW/$1.log" || true
}

# ms "9.61ms" -> 9.61
ms() { awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /[0-9]s$/ && $1 !~ /ms$/) v *= 1000; printf "%.2f\n", v }' <<<"$1"; }

# range file: "median (min..max)" of the numbers in a file, "NA" when none.
range() {
	local v
	v=$(nums "$1")
	[[ -n $v ]] || { echo NA; return; }
	echo "$(median <<<"$v") ($(sort -g <<<"$v" | head -1)..$(sort -g <<<"$v" | tail -1))"
}


# wvals file key [kind]: key of each WINDOW line (of one kind, default fresh), one per line.
wvals() { { grep "^WINDOW .* kind=${3:-fresh} " "$1" || true; } | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# wrow file kind: the cells "slow per round | failed per round (refused/reset/timeout summed)".
wrow() {
	local f=$1 k=$2
	printf '%s | %s (%s/%s/%s)' "$(wvals "$f" slow "$k" | paste -sd' ')" "$(wvals "$f" failed "$k" | paste -sd' ')" \
		"$(wvals "$f" refused "$k" | awk '{s += $1} END {print s + 0}')" \
		"$(wvals "$f" accepted_reset "$k" | awk '{s += $1} END {print s + 0}')" \
		"$( (wvals "$f" accepted_timeout "$k"; wvals "$f" connect_timeout "$k") | awk '{s += $1} END {print s + 0}')"
}

# fault_table file...: one row per manager from WINDOW files named PREFIX-m (prefix given).
fault_table() {
	local pre=$1 extra=${2:-} m f
	echo "| manager | clients: slow, per round | clients: failed, per round (refused/reset/timeout, all rounds) | paced: slow, per round | paced: failed, per round (refused/reset/timeout) | paced requests, median | slowest ms, median (max) |${extra:+ $extra |} new worker serves ms, median (range) |"
	echo "| --- | --- | --- | --- | --- | ---: | --- |${extra:+ --- |} --- |"
	for m in "${MGRS[@]}"; do
		f=$pre-$m
		printf '| %s | %s | %s | %s | %s (%s) |' "$(label "$m")" "$(wrow "$f" fresh)" "$(wrow "$f" paced)" \
			"$(wvals "$f" requests paced | median)" "$(wvals "$f" max_ms all | median)" "$(wvals "$f" max_ms all | sort -g | tail -1)"
		[[ -n $extra ]] && printf ' %s |' "$(paste -sd' ' "$pre-gone-$m")"
		printf ' %s |\n' "$(range <(wvals "$f" new_pid_ms all))"
	done
}

declare -A LABEL=([pinit]="pinit (steering)" [pinit-off]="pinit (steering off)" [gunicorn]=Gunicorn
	[pinit-sc]="pinit (steering, workers under seccomp)")
label() { echo "${LABEL[$1]}"; }

{
	echo "## steering (bench/steer.sh)"
	echo
	machine
	echo "- python: $("$PY" --version 2>&1), uvicorn $("$PY" -c 'import uvicorn; print(uvicorn.__version__)'),"
	echo "  fastapi $("$PY" -c 'import fastapi; print(fastapi.__version__)'), gunicorn $(gunicorn --version 2>&1 | awk '{print $NF}' | tr -d ')'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
	echo "- before: $(busy)"
	echo
	echo "Managers, 2 workers each, all on 127.0.0.1, app bench/app.py, no access log:"
	echo
	echo "- pinit (steering): \`WORKERS=2 LISTEN=127.0.0.1:P HEALTH_LISTEN=127.0.0.1:H pinit $PY -m uvicorn app:app --fd 3 --no-access-log\`; /health: \"steering\":\"bpf\""
	echo "- pinit (steering off): the same under \`testworker no-reuseport-bpf\` (seccomp: EPERM for SO_ATTACH_REUSEPORT_CBPF); /health: \"steering\":\"kernel\""
	echo "- Gunicorn: \`gunicorn -k uvicorn.workers.UvicornWorker -w 2 -b 127.0.0.1:P --keep-alive 5 --graceful-timeout $GRACE app:app\`"
	echo
	echo "Load for (1) and (2): \`loadclient load -path /pid -fresh $CLIENTS -keepalive 0 -paced $PACED -timeout $CLIENT_TIMEOUT\`:"
	echo "\"clients\": $CLIENTS clients, each sending its next request on a new connection once the last one is answered"
	echo "(closed loop); \"paced\": alongside them, $PACED requests/s on new connections started on the clock whether earlier"
	echo "ones were answered or not (open loop, like independent users: a closed-loop client that waits sends"
	echo "nothing, so a slot that holds connections soon holds all $CLIENTS clients and their count saturates)."
	echo "Every request is given $CLIENT_TIMEOUT so that its fate is seen (answered late, or reset)."
	echo "Counted (\`loadclient window\`): the requests in flight at any time in the window after the fault;"
	echo "slow: answered, in over 1 s; failed: refused (connect refused) / reset (connected, then reset or"
	echo "closed unanswered) / timeout (no answer in $CLIENT_TIMEOUT). \"new worker serves\": when a pid not seen before"
	echo "the fault first answered. \"slowest\": over both streams, failed requests included."
	echo
} | tee "$OUT/steer.md"
report() { tee -a "$OUT/steer.md"; }

# ---------------------------------------------------------------- (1) crash
# crash_rounds variant: CRASH_ROUNDS rounds of kill -9 under load, every manager once per round.
crash_rounds() {
	local v=$1 r i m victim lf t0
	log "(1) crash ($v): $CRASH_ROUNDS rounds x ${#MGRS[@]} managers"
	echo "before: $(busy)" >>"$RAW/busy-crash-$v"
	for ((r = 0; r < CRASH_ROUNDS; r++)); do
		for i in $(rotate ${#MGRS[@]} "$r"); do
			m=${MGRS[$i]}
			settled "$m"
			victim=$(victim "$m")
			lf=$RAW/crash-$v-$m-$r
			"$B/loadclient" load -addr "127.0.0.1:${PORT[$m]}" -path /pid -fresh "$CLIENTS" -keepalive 0 -paced "$PACED" \
				-d $((2 + CRASH_WINDOW + 1))s -timeout "$CLIENT_TIMEOUT" -events 20 -requests "$lf.req" \
				-label "crash-$v-$m-$r" >"$lf.txt" 2>"$lf.events" &
			local lp=$!
			track "$lp"
			sleep 2
			t0=$(date +%s%N)
			kill -KILL "$victim"
			echo "kill -9 $victim at $t0" >"$lf.sig"
			wait "$lp" || true
			for k in fresh paced all; do
				"$B/loadclient" window -requests "$lf.req" -from "$t0" -d "${CRASH_WINDOW}s" -kind $k -label "$m-$r" >>"$RAW/crash-$v-$m"
			done
			echo "round $r $m: $(busy)" >>"$RAW/busy-crash-$v"
		done
	done
}

if want crash; then
	APP_ENV=() WT=""
	start_all
	crash_rounds normal
	stop_all
	APP_ENV=("BENCH_IMPORT_SLEEP=$IMPORT_SLEEP") WT=""
	start_all
	crash_rounds slow
	stop_all
	{
		echo "### (1) crash: kill -9 of one worker (the oldest, > 11 s old) under load"
		echo
		echo "SIGKILL 2 s into the load; counted: the $CRASH_WINDOW s after the kill. $CRASH_ROUNDS rounds per variant, order rotated."
		echo "WORKER_TIMEOUT and Gunicorn's --timeout at their defaults (30 s)."
		echo
		echo "#### the app as it is (a replacement serves after ~1 s of Python start-up)"
		echo
		fault_table "$RAW/crash-normal"
		echo
		sed 's/^/    /' "$RAW/busy-crash-normal"
		echo
		echo "#### the app sleeping $IMPORT_SLEEP s at import (BENCH_IMPORT_SLEEP=$IMPORT_SLEEP, every manager)"
		echo
		fault_table "$RAW/crash-slow"
		echo
		sed 's/^/    /' "$RAW/busy-crash-slow"
		echo
		echo "Raw WINDOW lines:"
		echo
		for v in normal slow; do for m in "${MGRS[@]}"; do sed "s/^/    $v /" "$RAW/crash-$v-$m"; done; done
		echo
	} | report
fi

# ---------------------------------------------------------------- (2) hang
if want hang; then
	log "(2) hang: $HANG_ROUNDS rounds x ${#MGRS[@]} managers, kill -STOP for $HANG_FOR s, timeout $TIMEOUT s"
	APP_ENV=() WT=$TIMEOUT
	start_all
	echo "before: $(busy)" >>"$RAW/busy-hang"
	for ((r = 0; r < HANG_ROUNDS; r++)); do
		for i in $(rotate ${#MGRS[@]} "$r"); do
			m=${MGRS[$i]}
			settled "$m"
			victim=$(victim "$m")
			key=$(proc_key "$victim")
			lf=$RAW/hang-$m-$r
			"$B/loadclient" load -addr "127.0.0.1:${PORT[$m]}" -path /pid -fresh "$CLIENTS" -keepalive 0 -paced "$PACED" \
				-d $((2 + HANG_FOR + 2))s -timeout "$CLIENT_TIMEOUT" -events 40 -requests "$lf.req" \
				-label "hang-$m-$r" >"$lf.txt" 2>"$lf.events" &
			lp=$!
			track "$lp"
			sleep 2
			t0=$(date +%s%N)
			kill -STOP "$victim"
			# When does the manager kill it? Poll until it is gone or HANG_FOR is over.
			gone=NA
			while (($(date +%s%N) - t0 < HANG_FOR * 1000000000)); do
				if [[ $(proc_key "$victim") != "$key" ]]; then
					gone=$((($(date +%s%N) - t0) / 1000000))
					break
				fi
				sleep 0.05
			done
			now=$(date +%s%N)
			left=$((HANG_FOR * 1000000000 - (now - t0)))
			((left > 0)) && sleep "$(awk -v n="$left" 'BEGIN {printf "%.3f", n / 1e9}')"
			cont=no
			if [[ $(proc_key "$victim") == "$key" ]]; then # still there after HANG_FOR: let it go on
				kill -CONT "$victim"
				cont=yes
			fi
			echo "kill -STOP $victim at $t0, gone after ${gone} ms, SIGCONT sent: $cont" >"$lf.sig"
			echo "$gone" >>"$RAW/hang-gone-$m"
			wait "$lp" || true
			for k in fresh paced all; do
				"$B/loadclient" window -requests "$lf.req" -from "$t0" -d "${HANG_FOR}s" -kind $k -label "$m-$r" >>"$RAW/hang-$m"
			done
			echo "round $r $m: $(busy)" >>"$RAW/busy-hang"
		done
	done
	# Timeout lines of the managers' logs, for the report.
	stop_all
	{
		echo "### (2) hang: kill -STOP of one worker for $HANG_FOR s under load, then kill -CONT"
		echo
		echo "pinit with WORKER_TIMEOUT=${TIMEOUT}s, Gunicorn with --timeout $TIMEOUT. SIGSTOP 2 s into the load; counted: the $HANG_FOR s"
		echo "from SIGSTOP to SIGCONT (sent only if the worker is still there). $HANG_ROUNDS rounds, order rotated."
		echo "Gunicorn's UvicornWorker touches its heartbeat file every timeout/2 = $(awk -v t="$TIMEOUT" 'BEGIN {print t / 2}') s (uvicorn's"
		echo "timeout_notify = the worker's timeout, which the arbiter sets to --timeout / 2), and the arbiter"
		echo "checks it about once a second: SIGABRT once the file is over $TIMEOUT s old (pending while the process"
		echo "is stopped), SIGKILL at its next check. So Gunicorn kills a stopped worker $(awk -v t="$TIMEOUT" 'BEGIN {print t / 2}')..$((TIMEOUT + 2)) s"
		echo "after the stop. pinit: steered away once the queue is seen not to move (0.25-0.5 s), stalled 0.5 s"
		echo "after the queue first held connections, SIGABRT after WORKER_TIMEOUT stalled, SIGKILL to the group 1 s later."
		echo
		fault_table "$RAW/hang" "hung worker gone after ms, per round"
		echo
		sed 's/^/    /' "$RAW/busy-hang"
		echo
		echo "Raw WINDOW lines, and the managers' timeout lines:"
		echo
		for m in "${MGRS[@]}"; do sed 's/^/    /' "$RAW/hang-$m"; done
		for m in "${MGRS[@]}"; do
			grep -hE 'timed out|WORKER TIMEOUT' "$RAW/$m.log" | sed "s/^/    $m: /" | tail -n 30 || true
		done
		echo
	} | report
fi

# ---------------------------------------------------------------- (3) steady state
if want tput; then
	# pinit-off's workers inherit the seccomp filter that refuses the program: pinit-sc runs the
	# same filter on its workers with steering on, so that on/off compares steering alone.
	MGRS=(pinit pinit-sc pinit-off gunicorn)
	log "(3) steady state: warm-up, then $TPUT_ROUNDS rounds x ${#MGRS[@]} managers x (keep-alive, fresh) x $DURATION"
	APP_ENV=() WT=""
	start_all
	for m in "${MGRS[@]}"; do waitfor wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$m]}/" >/dev/null; done
	echo "before: $(busy)" >>"$RAW/busy-tput"
	for ((r = 0; r < TPUT_ROUNDS; r++)); do
		for mode in keepalive fresh; do
			hdr=()
			[[ $mode == fresh ]] && hdr=(-H "Connection: close")
			for i in $(rotate ${#MGRS[@]} "$r"); do
				m=${MGRS[$i]}
				f=$RAW/wrk-$mode-$m-$r.txt
				echo "before: $(busy)" >"$f"
				st0=$(stalls "$m") c0=$(cpu_ticks "$m")
				waitfor wrk -t2 -c"$CONNS" -d"$DURATION" --latency "${hdr[@]}" "http://127.0.0.1:${PORT[$m]}/" >>"$f"
				c1=$(cpu_ticks "$m")
				echo "$(($(stalls "$m") - st0))" >>"$RAW/stalls-$mode-$m"
				# server CPU per request, in µs: less disturbed by other sessions' load than requests/s
				awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" '/ requests in / {printf "%.1f\n", t / hz * 1e6 / $1}' "$f" >>"$RAW/cpu-$mode-$m"
				echo "after: $(busy)" >>"$f"
				awk '/^Requests\/sec:/ {print $2}' "$f" >>"$RAW/rps-$mode-$m"
				ms "$(awk '$1 == "99%" {print $2}' "$f")" >>"$RAW/p99-$mode-$m"
				ms "$(awk '$1 == "50%" {print $2}' "$f")" >>"$RAW/p50-$mode-$m"
				awk '/Socket errors|Non-2xx/' "$f" | tr -s ' ' >>"$RAW/wrkerr-$mode-$m"
				echo "round $r $mode $m: $(head -1 "$f" | cut -d' ' -f2-) / $(tail -1 "$f" | cut -d' ' -f2-)" >>"$RAW/busy-tput"
			done
		done
	done
	for m in "${MGRS[@]}"; do steering "$m"; done # still as meant after the runs
	stop_all
	{
		echo "### (3) steady state, steering on and off: \`wrk -t2 -c$CONNS -d$DURATION --latency /\`"
		echo
		echo "$TPUT_ROUNDS rounds, order rotated; keep-alive (wrk's default: $CONNS connections opened once) and fresh"
		echo "(\`-H 'Connection: close'\`: every request on a new connection, so every request passes the"
		echo "steering program). Median (min..max) over rounds. Ratios: of the medians, and the median of the"
		echo "per-round ratios (the managers of a round ran within a minute of each other). A fourth manager,"
		echo "pinit (steering, workers under seccomp) = \`pinit testworker no-reuseport-bpf $PY -m uvicorn ...\`:"
		echo "the workers of pinit (steering off) inherit the seccomp filter that makes the kernel refuse the"
		echo "program, so every syscall of theirs passes a filter; this one has the same filter on its workers"
		echo "and steering on, so that it against pinit (steering off) is steering alone."
		echo
		for mode in keepalive fresh; do
			echo "#### $mode"
			echo
			echo "| manager | requests/s | p50 ms | p99 ms | server CPU µs/request | wrk errors (all rounds) | \"slot stalled\" logged, per run |"
			echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
			for m in "${MGRS[@]}"; do
				errs=$(sort "$RAW/wrkerr-$mode-$m" | uniq -c | sed 's/^ *//' | paste -sd';' || true)
				echo "| $(label "$m") | $(range "$RAW/rps-$mode-$m") | $(range "$RAW/p50-$mode-$m") | $(range "$RAW/p99-$mode-$m") | $(range "$RAW/cpu-$mode-$m") | ${errs:-none} | $(paste -sd' ' "$RAW/stalls-$mode-$m") |"
			done
			echo
			compare "$mode" pinit-sc pinit-off "**steering on / off** (both with the workers under seccomp)"
			compare "$mode" pinit pinit-off "steering on / off as in (1) and (2) (seccomp only on the off side)"
			compare "$mode" pinit pinit-sc "seccomp's cost: pinit (steering) / the same with the workers under seccomp"
			echo "- pinit (steering) / Gunicorn, requests/s: $(ratio "$(median <"$RAW/rps-$mode-pinit")" "$(median <"$RAW/rps-$mode-gunicorn")")"
			echo
		done
		echo "Machine load before / after each run:"
		echo
		sed 's/^/    /' "$RAW/busy-tput"
		echo
	} | report
fi
printf -- '- after: %s\n\n' "$(busy)" | report
log "done: report in $OUT/steer.md, raw data in $RAW"
