#!/usr/bin/env bash
# bench/pool.sh: pool mode, pinit + uvicorn --fd 3 against Gunicorn (UvicornWorker) and
# uvicorn --workers, the same FastAPI app (bench/app.py), 2 workers each, on loopback.
#   (1) throughput and latency: wrk, interleaved rounds
#   (2) the managers' own memory
#   (3) kill -9 of a worker: time until a new process exists and until it serves, and the
#       requests that fail meanwhile
#   (4) failed requests during a reload (SIGHUP) under load
#   (5) failed requests during a drain (SIGTERM) under load
# Failures are counted by bench/loadclient (fresh connections and keep-alive separately),
# not by wrk. Prints a markdown report (also kept in bench/out/pool.md); raw data in bench/out/pool/.
# Knobs: ROUNDS, DURATION, CONNS, KILL_ROUNDS, RELOAD_ROUNDS, DRAIN_ROUNDS; PINIT_B=/path/to/another/pinit
# adds that build as a fourth manager, "pinit-b" (to try a change against the tree's build).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-3}           # wrk rounds; each manager once per round, order rotated
DURATION=${DURATION:-10s}     # per wrk run
CONNS=${CONNS:-64}            # wrk connections (2 threads)
KILL_ROUNDS=${KILL_ROUNDS:-3}
RELOAD_ROUNDS=${RELOAD_ROUNDS:-2}
DRAIN_ROUNDS=${DRAIN_ROUNDS:-2}
GRACE=9 # s: pinit's GRACE_TIMEOUT default, given to Gunicorn as --graceful-timeout too

need go wrk curl ss top gunicorn setsid
"$PY" -c 'import uvicorn, fastapi' 2>/dev/null || die "$PY lacks uvicorn or fastapi: run .ci/deps"
trap cleanup EXIT
trap 'exit 130' INT TERM

build
B=$OUT/bin
RAW=$OUT/pool
rm -rf "$RAW" && mkdir -p "$RAW"
cd "$BENCH_DIR" # app.py is here; every manager imports app:app from its working directory

MGRS=(pinit gunicorn uvicorn)
declare -A PORT PID HPORT BIN
BIN[pinit]=$B/pinit
if [[ -n ${PINIT_B:-} ]]; then
	[[ -x $PINIT_B ]] || die "PINIT_B=$PINIT_B is not an executable"
	MGRS=(pinit pinit-b gunicorn uvicorn)
	BIN[pinit-b]=$PINIT_B
fi
for m in "${MGRS[@]}"; do PORT[$m]=$(free_port) HPORT[$m]=$(free_port); done # HPORT: pinit's health server

# start m: start manager m in its own session (so cleanup can end its whole group).
start() {
	local m=$1 port=${PORT[$1]}
	case $m in
	pinit | pinit-b)
		WORKERS=2 LISTEN="127.0.0.1:$port" HEALTH_LISTEN="127.0.0.1:${HPORT[$m]}" GRACE_TIMEOUT=${GRACE}s \
			setsid "${BIN[$m]}" "$PY" -m uvicorn app:app --fd 3 --no-access-log </dev/null >>"$RAW/$m.log" 2>&1 &
		;;
	gunicorn)
		setsid "$PY" "$(command -v gunicorn)" -k uvicorn.workers.UvicornWorker -w 2 -b "127.0.0.1:$port" \
			--keep-alive 5 --graceful-timeout "$GRACE" app:app </dev/null >>"$RAW/$m.log" 2>&1 &
		;;
	uvicorn)
		setsid "$PY" -m uvicorn --workers 2 --host 127.0.0.1 --port "$port" --no-access-log app:app \
			</dev/null >>"$RAW/$m.log" 2>&1 &
		;;
	esac
	PID[$m]=$!
	track "${PID[$m]}"
}

# workers m: the worker pids of manager m (uvicorn --workers also has a resource tracker child).
workers() {
	local p
	for p in $(ps -o pid= --ppid "${PID[$1]}"); do
		grep -q resource_tracker "/proc/$p/cmdline" 2>/dev/null || echo "$p"
	done
}

# serving m: wait until two different worker pids have answered /pid (at most 30 s).
serving() {
	local m=$1 end=$((SECONDS + 30)) seen=""
	while ((SECONDS < end)); do
		local pid
		pid=$(curl -s --max-time 1 "http://127.0.0.1:${PORT[$m]}/pid" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p' || true)
		[[ -n $pid && " $seen " != *" $pid "* ]] && seen+=" $pid"
		if [[ $(wc -w <<<"$seen") -ge 2 ]]; then
			[[ $m != pinit* ]] && return 0
			curl -sf --max-time 1 "http://127.0.0.1:${HPORT[$m]}/ready" >/dev/null && return 0
		fi
		sleep 0.1
	done
	die "$m did not serve with 2 workers within 30 s (see $RAW/$m.log)"
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

restart() { stop "$1"; start "$1"; serving "$1"; }

# ms "9.61ms" -> 9.61
ms() { awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /[0-9]s$/ && $1 !~ /ms$/) v *= 1000; printf "%.2f\n", v }' <<<"$1"; }

# sum of a field over the RESULT lines of a file, optionally only one kind.
rsum() { { grep '^RESULT' "$1" || true; } | { grep "kind=${3:-}" || true; } | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { s += $2 } END { print s + 0 }'; }

# rmax file key: the largest value of key over the RESULT lines of a file (0 when none).
rmax() { { grep '^RESULT' "$1" || true; } | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k && $2 + 0 > m { m = $2 + 0 } END { print m + 0 }'; }

{
	echo "## pool mode (bench/pool.sh)"
	echo
	machine
	echo "- python: $("$PY" --version 2>&1), uvicorn $("$PY" -c 'import uvicorn; print(uvicorn.__version__)'),"
	echo "  fastapi $("$PY" -c 'import fastapi; print(fastapi.__version__)'), gunicorn $(gunicorn --version 2>&1 | awk '{print $NF}' | tr -d ')'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
	echo "- before: $(busy)"
	echo
	echo "Managers, 2 workers each, all on 127.0.0.1, app bench/app.py, no access log:"
	echo
	echo "- pinit: \`WORKERS=2 LISTEN=127.0.0.1:P HEALTH_LISTEN=127.0.0.1:H pinit $PY -m uvicorn app:app --fd 3 --no-access-log\`"
	echo "- gunicorn: \`gunicorn -k uvicorn.workers.UvicornWorker -w 2 -b 127.0.0.1:P --keep-alive 5 --graceful-timeout $GRACE app:app\`"
	echo "  (keep-alive 5 s as uvicorn's default, graceful timeout as pinit's GRACE_TIMEOUT)"
	echo "- uvicorn: \`$PY -m uvicorn --workers 2 --host 127.0.0.1 --port P --no-access-log app:app\`"
	[[ -n ${PINIT_B:-} ]] && echo "- pinit-b: as pinit, with $PINIT_B"
	echo
} | tee "$OUT/pool.md"
report() { tee -a "$OUT/pool.md"; }

log "starting ${MGRS[*]}"
for m in "${MGRS[@]}"; do start "$m"; done
for m in "${MGRS[@]}"; do serving "$m"; done

# ---------------------------------------------------------------- (1) throughput
log "(1) throughput: warm-up, then $ROUNDS rounds x ${#MGRS[@]} managers x $DURATION"
for m in "${MGRS[@]}"; do waitfor wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$m]}/" >/dev/null; done
for ((r = 0; r < ROUNDS; r++)); do
	for i in $(rotate ${#MGRS[@]} $r); do
		m=${MGRS[$i]}
		f=$RAW/wrk-$m-$r.txt
		echo "before: $(busy)" >"$f"
		waitfor wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:${PORT[$m]}/" >>"$f"
		echo "after: $(busy)" >>"$f"
		awk '/^Requests\/sec:/ {print $2}' "$f" >>"$RAW/rps-$m"
		ms "$(awk '$1 == "50%" {print $2}' "$f")" >>"$RAW/p50-$m"
		ms "$(awk '$1 == "99%" {print $2}' "$f")" >>"$RAW/p99-$m"
		# wrk's own error counts (incomplete: see bench/README.md)
		awk '/Socket errors|Non-2xx/' "$f" | tr -s ' ' >>"$RAW/wrkerr-$m"
		echo "round $r $m: $(head -1 "$f" | cut -d' ' -f2-) / $(tail -1 "$f" | cut -d' ' -f2-)" >>"$RAW/busy-1"
	done
done
g_rps=$(median <"$RAW/rps-gunicorn")
g_p99=$(median <"$RAW/p99-gunicorn")
{
	echo "### (1) throughput and latency: \`wrk -t2 -c$CONNS -d$DURATION --latency /\`"
	echo
	echo "$ROUNDS rounds, order rotated; median (min..max) over rounds. Ratios against Gunicorn."
	echo
	echo "| manager | requests/s | ratio | p50 ms | p99 ms | p99 ratio | wrk errors (all rounds) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
	for m in "${MGRS[@]}"; do
		rps=$(median <"$RAW/rps-$m")
		p99=$(median <"$RAW/p99-$m")
		errs=$(sort "$RAW/wrkerr-$m" | uniq -c | sed 's/^ *//' | paste -sd';' || true)
		printf '| %s | %.0f (%.0f..%.0f) | %s | %s (%s..%s) | %s (%s..%s) | %s | %s |\n' "$m" "$rps" \
			"$(sort -g "$RAW/rps-$m" | head -1)" "$(sort -g "$RAW/rps-$m" | tail -1)" "$(ratio "$rps" "$g_rps")" \
			"$(median <"$RAW/p50-$m")" "$(sort -g "$RAW/p50-$m" | head -1)" "$(sort -g "$RAW/p50-$m" | tail -1)" \
			"$p99" "$(sort -g "$RAW/p99-$m" | head -1)" "$(sort -g "$RAW/p99-$m" | tail -1)" \
			"$(ratio "$p99" "$g_p99")" "${errs:-none}"
	done
	echo
	echo "Machine load before / after each run:"
	echo
	sed 's/^/    /' "$RAW/busy-1"
	echo
} | report

# ---------------------------------------------------------------- (1b) one connection
log "(1b) one keep-alive connection, one request at a time"
for m in "${MGRS[@]}"; do
	waitfor "$B/loadclient" load -addr "127.0.0.1:${PORT[$m]}" -fresh 0 -keepalive 1 -d 3s -events 3 -label "one-$m" \
		>"$RAW/one-$m.txt" 2>&1
done
{
	echo "### (1b) one keep-alive connection, one request at a time (\`loadclient load -fresh 0 -keepalive 1 -d 3s\`)"
	echo
	echo "| manager | requests/s | p50 ms | p99 ms |"
	echo "| --- | ---: | ---: | ---: |"
	for m in "${MGRS[@]}"; do
		l=$(grep kind=keepalive "$RAW/one-$m.txt" || true)
		echo "| $m | $(field rps "$l") | $(field p50_ms "$l") | $(field p99_ms "$l") |"
	done
	echo
} | report

# ---------------------------------------------------------------- (2) memory
{
	echo "### (2) memory after the throughput runs"
	echo
	echo "The manager process itself (VmRSS, Pss from smaps_rollup, threads) and its workers' PSS summed."
	echo
	echo "| manager | manager RSS kB | manager PSS kB | threads | workers' PSS kB (sum) |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	for m in "${MGRS[@]}"; do
		read -r rss pss _ _ thr <<<"$(mem "${PID[$m]}")"
		wpss=0
		for w in $(workers "$m"); do wpss=$((wpss + $(awk '/^Pss:/ {print $2}' "/proc/$w/smaps_rollup"))); done
		echo "| $m | $rss | $pss | $thr | $wpss |"
	done
	echo
} | report

# ---------------------------------------------------------------- (3) kill -9
log "(3) kill -9 of a worker: $KILL_ROUNDS rounds x ${#MGRS[@]} managers"
for ((r = 0; r < KILL_ROUNDS; r++)); do
	for i in $(rotate ${#MGRS[@]} $r); do
		m=${MGRS[$i]}
		[[ $(workers "$m" | wc -l) -ge 2 ]] || restart "$m" # uvicorn --workers never replaces one
		# The oldest worker. pinit restarts a worker that ran >= 10 s at once and a younger
		# one after its backoff (0.1 s and up), so make sure the victim is older than 11 s.
		victim=$(for w in $(workers "$m"); do echo "$(ps -o etimes= -p "$w" | tr -d " ") $w"; done | sort -rn | head -1)
		age=${victim% *}
		victim=${victim#* }
		((age >= 11)) || sleep $((11 - age))
		lf=$RAW/kill-load-$m-$r.txt
		"$B/loadclient" load -addr "127.0.0.1:${PORT[$m]}" -fresh 4 -keepalive 4 -d 5s -events 20 \
			-timeline "$RAW/kill-timeline-$m-$r.txt" -label "kill-$m-$r" >"$lf" 2>"$RAW/kill-events-$m-$r.txt" &
		lp=$!
		track "$lp"
		sleep 1
		echo "before: $(busy)" >>"$RAW/busy-3"
		waitfor "$B/loadclient" killwatch -parent "${PID[$m]}" -victim "$victim" -addr "127.0.0.1:${PORT[$m]}" \
			-path /pid -timeout 3.5s -label "$m-$r" >>"$RAW/kill-$m"
		wait "$lp" || true
		echo "round $r $m: $(busy)" >>"$RAW/busy-3"
	done
done
{
	echo "### (3) kill -9 of one worker (the oldest, > 11 s old), under light load"
	echo
	echo "bench/loadclient killwatch sends SIGKILL, then polls /proc for a new child of the manager"
	echo "(new process) and sends a fresh-connection GET /pid every 5 ms until a pid that was not a worker"
	echo "before answers (serving). Gives up after 3.5 s (NA). Meanwhile \`loadclient load -fresh 4 -keepalive 4\`"
	echo "runs for 5 s (from 1 s before the kill); its failures are summed and its slowest request is the worst over rounds."
	echo "Median (min..max) of $KILL_ROUNDS rounds."
	echo
	echo "| manager | victim dead ms | reaped ms | new process ms | serving ms | failed: fresh refused/reset/timeout, keep-alive reset/timeout | slowest request ms |"
	echo "| --- | ---: | ---: | ---: | ---: | --- | ---: |"
	for m in "${MGRS[@]}"; do
		row="| $m"
		for k in dead_ms reaped_ms proc_ms serve_ms; do
			v=$(sed -n "s/.* $k=\([^ ]*\).*/\1/p" "$RAW/kill-$m")
			na=$(grep -c NA <<<"$v" || true)
			row+=" | $(nums <<<"$v" | median) ($(paste -sd' ' <<<"$v" | tr ' ' '\n' | sort -g | paste -sd' ' | awk '{print $1 ".." $NF}'))"
			[[ $na -gt 0 ]] && row+=", none in $na"
		done
		fr=0 frr=0 frt=0 kr=0 kt=0 slow=0
		for ((r = 0; r < KILL_ROUNDS; r++)); do
			lf=$RAW/kill-load-$m-$r.txt
			fr=$((fr + $(rsum "$lf" refused fresh))) frr=$((frr + $(rsum "$lf" reset_eof fresh))) frt=$((frt + $(rsum "$lf" timeout fresh)))
			kr=$((kr + $(rsum "$lf" reset_eof keepalive))) kt=$((kt + $(rsum "$lf" timeout keepalive)))
			slow=$(awk -v a="$slow" -v b="$(rmax "$lf" max_ms)" 'BEGIN {print (b > a) ? b : a}')
		done
		echo "$row | $fr/$frr/$frt, $kr/$kt | $slow |"
	done
	echo
	echo "dead: the kernel has ended the victim (zombie); reaped: its manager waited for it; new process: the"
	echo "manager's new child exists; serving: it answered a request."
	echo
	echo "Raw killwatch lines:"
	echo
	for m in "${MGRS[@]}"; do cat "$RAW/kill-$m"; done | sed 's/^/    /'
	echo
	sed 's/^/    /' "$RAW/busy-3"
	echo
} | report

# ---------------------------------------------------------------- (4) reload
RELOADABLE=()
for m in "${MGRS[@]}"; do [[ $m == uvicorn ]] || RELOADABLE+=("$m"); done
log "(4) reload under load: $RELOAD_ROUNDS rounds x ${RELOADABLE[*]}"
for m in "${MGRS[@]}"; do [[ $(workers "$m" | wc -l) -ge 2 ]] || restart "$m"; done
for ((r = 0; r < RELOAD_ROUNDS; r++)); do
	for i in $(rotate ${#RELOADABLE[@]} $r); do
		m=${RELOADABLE[$i]}
		old=$(workers "$m" | paste -sd' ')
		lf=$RAW/reload-$m-$r.txt
		echo "before: $(busy)" >>"$RAW/busy-4"
		"$B/loadclient" load -addr "127.0.0.1:${PORT[$m]}" -fresh 8 -keepalive 24 -d 8s -events 40 \
			-timeline "$RAW/reload-timeline-$m-$r.txt" -label "reload-$m-$r" >"$lf" 2>"$RAW/reload-events-$m-$r.txt" &
		lp=$!
		track "$lp"
		lt=$(date +%s%N)
		sleep 2
		t0=$(date +%s%N)
		kill -HUP "${PID[$m]}"
		echo "SIGHUP at t=$(((t0 - lt) / 1000000)) ms of the load" >"$RAW/reload-sig-$m-$r.txt"
		# Finished when no old worker is left and two new ones run.
		took=NA
		for ((k = 0; k < 300; k++)); do
			alive=0
			for w in $old; do kill -0 "$w" 2>/dev/null && alive=1; done
			if ((alive == 0)) && [[ $(workers "$m" | wc -l) -eq 2 ]]; then
				took=$((($(date +%s%N) - t0) / 1000000))
				break
			fi
			sleep 0.05
		done
		echo "$took" >>"$RAW/reload-ms-$m"
		wait "$lp" || true
		echo "round $r $m: $(busy)" >>"$RAW/busy-4"
	done
done
{
	echo "### (4) reload (SIGHUP) under load"
	echo
	echo "\`loadclient load -fresh 8 -keepalive 24\` for 8 s, SIGHUP to the manager at 2 s. Reload time: from SIGHUP"
	echo "until no old worker is left and 2 workers run. Failures summed over $RELOAD_ROUNDS rounds."
	echo "keep-alive failures are split: on a connection that had already answered (reused: the HTTP/1.1"
	echo "race of a server closing an idle connection as the next request goes out; clients retry those)"
	echo "and on a new connection."
	echo
	echo "| manager | reload s (rounds) | requests | fresh failed: refused/reset/timeout | keep-alive failed: reused / new conn | slowest request ms |"
	echo "| --- | --- | ---: | --- | --- | ---: |"
	for m in "${RELOADABLE[@]}"; do
		sent=0 fr=0 frr=0 frt=0 kr=0 kn=0 slow=0
		for ((r = 0; r < RELOAD_ROUNDS; r++)); do
			lf=$RAW/reload-$m-$r.txt
			sent=$((sent + $(rsum "$lf" sent)))
			fr=$((fr + $(rsum "$lf" refused fresh))) frr=$((frr + $(rsum "$lf" reset_eof fresh))) frt=$((frt + $(rsum "$lf" timeout fresh)))
			kr=$((kr + $(rsum "$lf" reused keepalive)))
			kn=$((kn + $(rsum "$lf" failed keepalive) - $(rsum "$lf" reused keepalive)))
			slow=$(awk -v a="$slow" -v b="$(rmax "$lf" max_ms)" 'BEGIN {print (b > a) ? b : a}')
		done
		echo "| $m | $(awk '{printf "%s%.1f", (NR > 1 ? ", " : ""), $1 / 1000}' "$RAW/reload-ms-$m") | $sent | $fr/$frr/$frt | $kr / $kn | $slow |"
	done
	echo "| uvicorn | not run | | | | |"
	echo
	echo "uvicorn --workers: not run. uvicorn $("$PY" -c 'import uvicorn; print(uvicorn.__version__)')'s multiprocess supervisor handles only SIGINT and SIGTERM"
	echo "(uvicorn/supervisors/multiprocess.py, HANDLED_SIGNALS), so SIGHUP's default action would kill the parent."
	echo
	sed 's/^/    /' "$RAW/busy-4"
	echo
} | report

# ---------------------------------------------------------------- (5) drain
log "(5) drain under load: $DRAIN_ROUNDS rounds x ${#MGRS[@]} managers"
for ((r = 0; r < DRAIN_ROUNDS; r++)); do
	for i in $(rotate ${#MGRS[@]} $r); do
		m=${MGRS[$i]}
		kill -0 "${PID[$m]}" 2>/dev/null && [[ $(workers "$m" | wc -l) -ge 2 ]] || { start "$m"; serving "$m"; }
		lf=$RAW/drain-$m-$r.txt
		echo "before: $(busy)" >>"$RAW/busy-5"
		"$B/loadclient" load -addr "127.0.0.1:${PORT[$m]}" -fresh 8 -keepalive 24 -d 6s -stop-on-refused -events 200 \
			-timeline "$RAW/drain-timeline-$m-$r.txt" -label "drain-$m-$r" >"$lf" 2>"$RAW/drain-events-$m-$r.txt" &
		lp=$!
		track "$lp"
		lt=$(date +%s%N)
		sleep 2
		t0=$(date +%s%N)
		kill -TERM "${PID[$m]}"
		# Is the port still listening, with connections queued, while the workers shut down?
		sleep 0.1
		echo "$(ss -ltnH "sport = :${PORT[$m]}" | awk '{q += $2; n++} END {printf "%d listening, Recv-Q %d", n, q}')" >"$RAW/drain-ss-$m-$r.txt"
		for ((k = 0; k < 300; k++)); do kill -0 "${PID[$m]}" 2>/dev/null || break; sleep 0.02; done
		took=$((($(date +%s%N) - t0) / 1000000))
		code=0
		wait "${PID[$m]}" || code=$?
		echo "$took $code $(((t0 - lt) / 1000000))" >>"$RAW/drain-ms-$m"
		wait "$lp" || true
		echo "round $r $m: $(busy)" >>"$RAW/busy-5"
	done
done
{
	echo "### (5) drain (SIGTERM) under load"
	echo
	echo "\`loadclient load -fresh 8 -keepalive 24 -stop-on-refused\`, SIGTERM to the manager at 2 s; each client"
	echo "goroutine stops at its first refused connect (the port is closed: expected, and counted once per"
	echo "goroutine, 32 per round). Summed over $DRAIN_ROUNDS rounds. What should be zero: resets and timeouts"
	echo "of requests on new connections (the server accepted the connection, then dropped it)."
	echo
	echo "| manager | drain ms, exit code | requests | refused | fresh reset/timeout | keep-alive: reused / new conn failed | last 2xx after SIGTERM ms | 100 ms after SIGTERM |"
	echo "| --- | --- | ---: | ---: | --- | --- | --- | --- |"
	for m in "${MGRS[@]}"; do
		sent=0 ref=0 frr=0 frt=0 kr=0 kn=0 last=""
		for ((r = 0; r < DRAIN_ROUNDS; r++)); do
			lf=$RAW/drain-$m-$r.txt
			sent=$((sent + $(rsum "$lf" sent)))
			ref=$((ref + $(rsum "$lf" refused)))
			frr=$((frr + $(rsum "$lf" reset_eof fresh))) frt=$((frt + $(rsum "$lf" timeout fresh)))
			kr=$((kr + $(rsum "$lf" reused keepalive)))
			kn=$((kn + $(rsum "$lf" failed keepalive) - $(rsum "$lf" reused keepalive) - $(rsum "$lf" refused keepalive)))
			sig=$(awk -v r=$((r + 1)) 'NR == r {print $3}' "$RAW/drain-ms-$m")
			last+="$(awk -v l="$(rmax "$lf" last_ok_s)" -v s="$sig" 'BEGIN {printf "%.0f", l * 1000 - s}') "
		done
		echo "| $m | $(awk '{printf "%s%s, %s", (NR > 1 ? "; " : ""), $1, $2}' "$RAW/drain-ms-$m") | $sent | $ref | $frr/$frt | $kr / $kn | ${last% } | $(cat "$RAW"/drain-ss-"$m"-[0-9]*.txt | paste -sd';' | sed 's/;/; /g') |"
	done
	echo
	echo "(\"100 ms after SIGTERM\": \`ss -ltn\` on the port, per round: sockets still listening, and connections"
	echo "queued in them that no process accepts any more. \"last 2xx after SIGTERM\": the last successful response, in ms after the signal, per round;"
	echo "the client's clock starts a few ms before the script's, so it may read a little high.)"
	echo
	sed 's/^/    /' "$RAW/busy-5"
	echo
	echo "- after: $(busy)"
	echo
} | report
log "done: report in $OUT/pool.md, raw data in $RAW"
