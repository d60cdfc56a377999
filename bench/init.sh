#!/usr/bin/env bash
# bench/init.sh: init mode, pinit against tini, dumb-init and catatonit.
#   (a) time to run /bin/true under each init (hyperfine, interleaved rounds)
#   (b) the init's own RSS and PSS while it supervises a sleeping child
#   (c) binary sizes
#   (d) time until 1000 orphans are reaped, each init as PID 1 of a new PID namespace
# Prints a markdown report on stdout (also kept in bench/out/init.md); raw data in bench/out/init/.
# Needs root (unshare --pid). Knobs: ROUNDS, RUNS, RSS_ROUNDS, ORPHAN_ROUNDS, N_ORPHANS.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-5}               # startup rounds; every init runs once per round, order rotated
RUNS=${RUNS:-100}                 # hyperfine runs per init per round
RSS_ROUNDS=${RSS_ROUNDS:-3}
ORPHAN_ROUNDS=${ORPHAN_ROUNDS:-3}
N_ORPHANS=${N_ORPHANS:-1000}

need go hyperfine tini tini-static dumb-init catatonit unshare jq top timeout setsid
[[ $EUID -eq 0 ]] || die "run as root (unshare --pid --mount-proc)"
trap cleanup EXIT
trap 'exit 130' INT TERM

build
B=$OUT/bin
RAW=$OUT/init
rm -rf "$RAW" && mkdir -p "$RAW"
HPORT=$(free_port) # pinit's health server, loopback only, when it is on

# The inits, each with its command prefix and environment. tini runs with -s
# (subreaper, which pinit always is when not PID 1; without it tini warns).
NAMES=(bare tini tini-static dumb-init catatonit pinit pinit+health)
prefix() {
	case $1 in
	bare) echo "" ;;
	tini) echo "tini -s --" ;;
	tini-static) echo "tini-static -s --" ;;
	dumb-init) echo "dumb-init" ;;
	catatonit) echo "catatonit --" ;;
	pinit | pinit+health | pinit+health-loaded | pinit+metrics-loaded) echo "$B/pinit" ;;
	esac
}
health_env() {
	case $1 in
	pinit+health* | pinit+metrics*) echo "HEALTH_LISTEN=127.0.0.1:$HPORT" ;;
	*) echo "HEALTH_LISTEN=none" ;;
	esac
}

{
	echo "## init mode (bench/init.sh)"
	echo
	machine
	echo "- before: $(busy)"
	echo
} | tee "$OUT/init.md"
report() { tee -a "$OUT/init.md"; }

# ---------------------------------------------------------------- (a) startup
log "(a) start-up: $ROUNDS rounds x ${#NAMES[@]} inits x $RUNS runs"
echo "- (a) before: $(busy)" >"$RAW/busy-a"
for ((r = 0; r < ROUNDS; r++)); do
	for i in $(rotate ${#NAMES[@]} $r); do
		n=${NAMES[$i]}
		read -r -a cmd <<<"$(prefix "$n") /bin/true"
		waitfor env "$(health_env "$n")" hyperfine -N --style none --warmup 10 --runs "$RUNS" \
			--export-json "$RAW/start-$n-$r.json" -- "${cmd[*]}" >/dev/null 2>>"$RAW/hyperfine.log"
		jq -r '.results[0].median * 1000' "$RAW/start-$n-$r.json" >>"$RAW/start-$n"
		jq -r '(.results[0].user + .results[0].system) * 1000' "$RAW/start-$n-$r.json" >>"$RAW/cpu-$n"
	done
	echo "round $r: $(busy)" >>"$RAW/busy-a"
done
echo "- (a) after: $(busy)" >>"$RAW/busy-a"

bare=$(median <"$RAW/start-bare")
tini_ms=$(median <"$RAW/start-tini")
{
	echo "### (a) time to run /bin/true under the init"
	echo
	echo "hyperfine -N, $RUNS runs after 10 warm-ups, per init per round; $ROUNDS rounds, order rotated each round."
	echo "Median of the per-round medians; the spread is the lowest and highest round median. CPU ms: user+system"
	echo "time per run (init and /bin/true together, hyperfine's mean), median over rounds: less sensitive than"
	echo "wall time to other sessions' load."
	echo "pinit+health: HEALTH_LISTEN=127.0.0.1:port (the default :8081 binds every address; same work)."
	echo
	echo "| init | median ms | rounds min..max ms | ratio to bare | minus tini ms | CPU ms (user+sys) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for n in "${NAMES[@]}"; do
		m=$(median <"$RAW/start-$n")
		lo=$(sort -g "$RAW/start-$n" | head -1)
		hi=$(sort -g "$RAW/start-$n" | tail -1)
		printf '| %s | %.3f | %.3f..%.3f | %s | %+.3f | %.3f |\n' "$n" "$m" "$lo" "$hi" "$(ratio "$m" "$bare")" \
			"$(awk -v a="$m" -v b="$tini_ms" 'BEGIN {print a - b}')" "$(median <"$RAW/cpu-$n")"
	done
	echo
	sed 's/^/    /' "$RAW/busy-a"
	echo
} | report

# ---------------------------------------------------------------- (b) memory
MEM_NAMES=(tini tini-static dumb-init catatonit pinit pinit+health pinit+health-loaded pinit+metrics-loaded)
log "(b) memory: $RSS_ROUNDS rounds x ${#MEM_NAMES[@]} inits"
echo "- (b) before: $(busy)" >"$RAW/busy-b"
for ((r = 0; r < RSS_ROUNDS; r++)); do
	for i in $(rotate ${#MEM_NAMES[@]} $r); do
		n=${MEM_NAMES[$i]}
		read -r -a cmd <<<"$(prefix "$n") sleep 600"
		env "$(health_env "$n")" setsid "${cmd[@]}" </dev/null >/dev/null 2>>"$RAW/mem-stderr.log" &
		pid=$!
		track "$pid"
		sleep 1
		if [[ $n == pinit+health-loaded ]]; then
			# 3 s of /health and /ready requests, fresh and keep-alive, then let it settle.
			waitfor "$B/loadclient" load -addr "127.0.0.1:$HPORT" -path /health -fresh 2 -keepalive 2 -d 3s -events 0 \
				-label "$n" >>"$RAW/mem-load.log"
			waitfor "$B/loadclient" load -addr "127.0.0.1:$HPORT" -path /ready -fresh 2 -keepalive 2 -d 1s -events 0 \
				-label "$n" >>"$RAW/mem-load.log"
			sleep 1
		fi
		if [[ $n == pinit+metrics-loaded ]]; then
			# 4 s of /metrics scrapes (each reads /proc), then let it settle.
			waitfor "$B/loadclient" load -addr "127.0.0.1:$HPORT" -path /metrics -fresh 2 -keepalive 2 -d 4s -events 0 \
				-label "$n" >>"$RAW/mem-metrics.log"
			sleep 1
		fi
		echo "$(mem "$pid")" >>"$RAW/mem-$n"
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "round $r: $(busy)" >>"$RAW/busy-b"
done
echo "- (b) after: $(busy)" >>"$RAW/busy-b"
{
	echo "### (b) memory of the init itself, supervising \`sleep 600\`"
	echo
	echo "Read 1 s after start from /proc/PID/status (VmRSS, RssAnon, RssFile, Threads) and /proc/PID/smaps_rollup (Pss);"
	echo "median of $RSS_ROUNDS rounds. pinit+metrics-loaded: after 4 s of /metrics scrapes"
	echo "($(grep -o ' ok=[0-9]*' "$RAW/mem-metrics.log" | awk -F= '{s += $2} END {print s}') answered, all rounds together)."
	echo "pinit+health-loaded: after 4 s of /health and /ready requests"
	echo "($(grep kind=fresh "$RAW/mem-load.log" | grep -o ' ok=[0-9]*' | awk -F= '{s += $2} END {print s}') fresh-connection and"
	echo "$(grep kind=keepalive "$RAW/mem-load.log" | grep -o ' ok=[0-9]*' | awk -F= '{s += $2} END {print s}') keep-alive requests answered, all rounds together)."
	echo
	echo "| init | RSS kB | PSS kB | RssAnon kB | RssFile kB | threads |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for n in "${MEM_NAMES[@]}"; do
		row="| $n"
		for k in 1 2 3 4 5; do row+=" | $(awk -v k=$k '{print $k}' "$RAW/mem-$n" | median)"; done
		echo "$row |"
	done
	echo
	sed 's/^/    /' "$RAW/busy-b"
	echo
} | report

# ---------------------------------------------------------------- (c) sizes
{
	echo "### (c) binary size"
	echo
	echo "| binary | bytes | linking |"
	echo "| --- | ---: | --- |"
	for f in "$B/pinit" "$B/pinit-unstripped" "$(command -v tini)" "$(command -v tini-static)" \
		"$(command -v dumb-init)" "$(command -v catatonit)"; do
		link=$(file -b "$f" | grep -oE 'statically linked|dynamically linked|static-pie linked' || echo '?')
		printf '| %s | %s | %s |\n' "${f/#$B\//}" "$(stat -c %s "$f")" "$link"
	done
	echo
	echo "pinit's machine code (nm type T, unstripped build) by package, largest first:"
	echo
	echo "| package | code bytes |"
	echo "| --- | ---: |"
	go tool nm -size "$B/pinit-unstripped" | awk '$3 == "T" {
		name = $4; i = match(name, /\/[^\/]*$/); pkg = name
		rest = i ? substr(name, i + 1) : name; pre = i ? substr(name, 1, i) : ""
		sub(/\..*$/, "", rest); pkg = pre rest
		if (pkg ~ /^(crypto|vendor\/golang.org\/x\/crypto)/) pkg = "crypto/..., x/crypto (all)"
		else if (pkg ~ /^(net\/http|vendor\/golang.org\/x\/net)/) pkg = "net/http/..., x/net (all)"
		sum[pkg] += $2 } END { for (p in sum) printf "| %s | %d |\n", p, sum[p] }' | sort -t'|' -k3 -rn | head -12
	echo
} | report

# ---------------------------------------------------------------- (d) orphans
ORPHAN_NAMES=(tini dumb-init catatonit pinit)
log "(d) orphans: $ORPHAN_ROUNDS rounds x 2 modes x ${#ORPHAN_NAMES[@]} inits x $N_ORPHANS orphans"
echo "- (d) before: $(busy)" >"$RAW/busy-d"
for ((r = 0; r < ORPHAN_ROUNDS; r++)); do
	for mode in burst zombies; do
		for i in $(rotate ${#ORPHAN_NAMES[@]} $r); do
			n=${ORPHAN_NAMES[$i]}
			read -r -a cmd <<<"$(prefix "$n") $B/orphans -n $N_ORPHANS -mode $mode -timeout 30s"
			line=$(env HEALTH_LISTEN=none timeout 60 unshare --pid --fork --mount-proc "${cmd[@]}" 2>>"$RAW/orphans-stderr.log" |
				grep '^ORPHANS' || echo "ORPHANS FAILED")
			echo "$line" >>"$RAW/orphans-raw"
			field done_ms "$line" >>"$RAW/orph-$n-$mode-done"
			field tail_ms "$line" >>"$RAW/orph-$n-$mode-tail"
		done
	done
	echo "round $r: $(busy)" >>"$RAW/busy-d"
done
echo "- (d) after: $(busy)" >>"$RAW/busy-d"
{
	echo "### (d) reaping $N_ORPHANS orphans, the init as PID 1 of \`unshare --pid --fork --mount-proc\`"
	echo
	echo "bench/orphans is the init's child: it forks a spawner that forks $N_ORPHANS grandchildren and exits, so all"
	echo "are re-parented to the init. burst: the orphans are alive and all exit together when released;"
	echo "zombies: they exited at once and are re-parented as zombies when the spawner exits. tail = from"
	echo "the release (spawner reaped) until /proc shows nothing but PID 1 and bench/orphans: every orphan"
	echo "reaped. total = from start (the $N_ORPHANS forks included). Median of $ORPHAN_ROUNDS rounds (min..max)."
	echo
	echo "| init | burst tail ms | burst total ms | zombies tail ms | zombies total ms |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	for n in "${ORPHAN_NAMES[@]}"; do
		row="| $n"
		for mode in burst zombies; do
			for k in tail done; do
				f="$RAW/orph-$n-$mode-$k"
				row+=" | $(nums "$f" | median) ($(nums "$f" | sort -g | head -1)..$(nums "$f" | sort -g | tail -1))"
			done
		done
		echo "$row |"
	done
	echo
	echo "failed or timed-out runs: $(grep -c -E 'FAILED|TIMEOUT' "$RAW/orphans-raw" || true)"
	echo
	sed 's/^/    /' "$RAW/busy-d"
	echo
	echo "- after: $(busy)"
	echo
} | report
log "done: report in $OUT/init.md, raw data in $RAW"
