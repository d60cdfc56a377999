package integration

// Pool mode (WORKERS=N), black box: pinit runs as PID 1 of a fresh PID
// namespace with the test worker (testdata/testworker) as its command; the
// tests talk to the workers' port and to the health server on loopback, send
// pinit signals, and read its JSON log lines. The bodies that take a command
// also run with uvicorn (uvicorn_test.go).

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestPoolServesEverySlot(t *testing.T) {
	t.Parallel()
	testServesEverySlot(t, testWorker("serve"), 3)
}

// testServesEverySlot: requests on fresh connections reach every slot, each
// slot is one worker with its own WORKER_ID, and LISTEN_PID is the pid of the
// process that serves.
func testServesEverySlot(t *testing.T, cmd command, n int) {
	p := startPool(t, cmd, map[string]string{"WORKERS": strconv.Itoa(n)})
	rep := waitPoolUp(t, p.healthAddr, n)
	seen := waitServers(t, p.url, n, 60*time.Second)
	maps.Copy(seen, serversSeen(t, p.url, 100))

	if len(seen) != n {
		t.Errorf("requests reached %d distinct pids, want %d: %v", len(seen), n, seen)
	}
	ids := map[string]int{}
	for pid, h := range seen {
		if h.ListenPID != pid {
			t.Errorf("worker %s: LISTEN_PID=%d, but pid %d serves", h.WorkerID, h.ListenPID, pid)
		}
		if prev, dup := ids[h.WorkerID]; dup {
			t.Errorf("WORKER_ID=%s is served by pids %d and %d", h.WorkerID, prev, pid)
		}
		ids[h.WorkerID] = pid
		if !slices.Contains(rep.pids(), pid) {
			t.Errorf("pid %d answered but /health lists %v", pid, rep.pids())
		}
	}
	for i := range n {
		if _, ok := ids[strconv.Itoa(i)]; !ok {
			t.Errorf("no answer from WORKER_ID=%d; answers: %v", i, seen)
		}
	}
	for _, w := range rep.Workers {
		if h := seen[w.PID]; h.WorkerID != strconv.Itoa(w.Slot) {
			t.Errorf("/health has pid %d in slot %d, but it says WORKER_ID=%q", w.PID, w.Slot, h.WorkerID)
		}
		// The workers write straight to pinit's stdout and stderr, not to a pipe of pinit's.
		for _, fd := range []int{1, 2} {
			mine, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", p.pid(), fd))
			theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", p.hostPID(w.PID), fd))
			if mine == "" || theirs != mine {
				t.Errorf("worker %d has fd %d %q, pinit has %q: want the same", w.PID, fd, theirs, mine)
			}
		}
	}
}

// holds reports whether process pid has a descriptor open on target (as
// /proc/PID/fd links name it, e.g. "pipe:[1234]").
func holds(pid int, target string) bool {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range entries {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); l == target {
			return true
		}
	}
	return false
}

// envBlock is what one run of `testworker env` printed.
type envBlock struct {
	vars map[string]string
	fds  string
}

// envBlocks parses the output of `testworker env` runs: variables, then "fds: ...".
func envBlocks(out string) []envBlock {
	var blocks []envBlock
	cur := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if fds, ok := strings.CutPrefix(line, "fds:"); ok {
			blocks = append(blocks, envBlock{vars: cur, fds: strings.TrimSpace(fds)})
			cur = map[string]string{}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			cur[k] = v
		}
	}
	return blocks
}

func TestPoolWorkerEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen  string
		fds     string
		sockets bool
	}{
		{listen: "", fds: "0 1 2 3", sockets: true},
		{listen: "none", fds: "0 1 2", sockets: false},
	} {
		t.Run("LISTEN="+tc.listen, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"APP_SETTING": "kept", "LISTEN_FDS": "7", "WORKER_ID": "stale"}
			if tc.listen != "" {
				env["LISTEN"] = tc.listen
			}
			// pinit inherits two descriptors from its parent, as from a careless
			// runtime: a worker must get neither, only 0, 1, 2 and its socket.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			cmd := testWorker("env")
			cmd.files = []*os.File{r, w}
			p := startPool(t, cmd, env)
			// `env` exits at once, so the pool keeps restarting it: the first run of each slot is enough.
			var blocks []envBlock
			eventually(t, 30*time.Second, "both slots printed their environment", func() bool {
				blocks = envBlocks(p.stdout.String())
				ids := map[string]bool{}
				for _, b := range blocks {
					ids[b.vars["WORKER_ID"]] = true
				}
				return ids["0"] && ids["1"]
			})
			pipe, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", r.Fd()))
			if !holds(p.pid(), pipe) {
				t.Fatalf("pinit does not hold the test's %s: the test proves nothing", pipe)
			}
			wantFDs := tc.fds
			started := map[string][]int{} // slot → pids started in it
			for _, l := range p.logs("worker started") {
				slot := strconv.Itoa(l.num("slot"))
				started[slot] = append(started[slot], l.num("pid"))
			}
			for _, b := range blocks {
				v := b.vars
				id := v["WORKER_ID"]
				if id != "0" && id != "1" {
					t.Errorf("WORKER_ID=%q, want 0 or 1", id)
				}
				if b.fds != wantFDs {
					t.Errorf("worker %s inherited fds %q, want exactly %q", id, b.fds, wantFDs)
				}
				if v["APP_SETTING"] != "kept" {
					t.Errorf("worker %s: APP_SETTING=%q, want pinit's environment passed on", id, v["APP_SETTING"])
				}
				if !strings.HasPrefix(v["NOTIFY_SOCKET"], "@") {
					t.Errorf("worker %s: NOTIFY_SOCKET=%q, want an abstract socket (@...)", id, v["NOTIFY_SOCKET"])
				}
				for k := range v {
					if strings.HasPrefix(k, "PINIT_") {
						t.Errorf("worker %s: pinit's internal variable %s leaked", id, k)
					}
				}
				// WORKER_TIMEOUT's default, 30 s, and the worker's own pid, as
				// systemd gives them: a process the worker starts inherits
				// WATCHDOG_USEC and must be able to tell it is not meant.
				if v["WATCHDOG_USEC"] != "30000000" {
					t.Errorf("worker %s: WATCHDOG_USEC=%q, want 30000000", id, v["WATCHDOG_USEC"])
				}
				if pid, err := strconv.Atoi(v["WATCHDOG_PID"]); err != nil || !slices.Contains(started[id], pid) {
					t.Errorf("worker %s: WATCHDOG_PID=%q is not a pid pinit started in slot %s (%v)", id, v["WATCHDOG_PID"], id, started[id])
				}
				if !tc.sockets {
					for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
						if val, ok := v[k]; ok {
							t.Errorf("LISTEN=none, yet worker %s has %s=%q", id, k, val)
						}
					}
					continue
				}
				if v["LISTEN_FDS"] != "1" || v["LISTEN_FDNAMES"] != "pinit" {
					t.Errorf("worker %s: LISTEN_FDS=%q LISTEN_FDNAMES=%q, want 1 and pinit", id, v["LISTEN_FDS"], v["LISTEN_FDNAMES"])
				}
				pid, err := strconv.Atoi(v["LISTEN_PID"])
				if err != nil || !slices.Contains(started[id], pid) {
					t.Errorf("worker %s: LISTEN_PID=%q is not a pid pinit started in slot %s (%v)", id, v["LISTEN_PID"], id, started[id])
				}
			}
		})
	}
}

func TestPoolRestartsKilledWorker(t *testing.T) {
	t.Parallel()
	testRestartsKilledWorker(t, testWorker("serve"))
}

// testRestartsKilledWorker: kill -9 of a worker brings a new one in the same
// slot; the other slot is left alone.
func testRestartsKilledWorker(t *testing.T, cmd command) {
	p := startPool(t, cmd, nil)
	rep := waitPoolUp(t, p.healthAddr, 2)
	victim, other := rep.Workers[0].PID, rep.Workers[1].PID
	kill(t, p.hostPID(victim), syscall.SIGKILL)

	rep = waitHealth(t, p.healthAddr, "/ready", 200, 60*time.Second, func(r healthReport) bool {
		return r.allUp(2) && r.Workers[0].PID != victim
	})
	if w := rep.Workers[0]; w.Slot != 0 || w.Restarts != 1 {
		t.Errorf("slot 0 after the kill: %+v, want slot 0 with 1 restart", w)
	}
	if w := rep.Workers[1]; w.PID != other || w.Restarts != 0 {
		t.Errorf("slot 1 after slot 0's worker was killed: %+v, want pid %d untouched", w, other)
	}
	p.waitLogs("worker exited", 1, 10*time.Second, func(l logLine) bool {
		return l.num("pid") == victim && l.num("slot") == 0 && l.str("signal") == "SIGKILL"
	})
	p.waitLogs("restart scheduled", 1, 10*time.Second, func(l logLine) bool { return l.num("slot") == 0 })

	replacement := rep.Workers[0].PID
	seen := waitServers(t, p.url, 2, 60*time.Second)
	if h, ok := seen[replacement]; !ok || h.WorkerID != "0" {
		t.Errorf("answers %v: want the replacement pid %d as WORKER_ID=0", seen, replacement)
	}
	if _, ok := seen[victim]; ok {
		t.Errorf("the killed pid %d still answers", victim)
	}
}

func TestPoolQueuedConnectionSurvivesRestart(t *testing.T) {
	t.Parallel()
	testQueuedConnectionSurvivesRestart(t, testWorker("serve"))
}

// testQueuedConnectionSurvivesRestart: while the only worker is dead and not
// yet replaced, a new connection waits in the slot's socket (pinit keeps it
// open) and the replacement answers it. pinit is held with SIGSTOP from the
// moment the worker is killed until the request has been sent, so the slot
// is empty for sure when the client connects.
func testQueuedConnectionSurvivesRestart(t *testing.T, cmd command) {
	p := startPool(t, cmd, map[string]string{"WORKERS": "1"})
	rep := waitPoolUp(t, p.healthAddr, 1)
	old := rep.Workers[0].PID
	mustHello(t, p.url)
	pinitPID, workerPID := p.pid(), p.hostPID(old)

	kill(t, pinitPID, syscall.SIGSTOP)
	t.Cleanup(func() { _ = syscall.Kill(pinitPID, syscall.SIGCONT) })
	kill(t, workerPID, syscall.SIGKILL)
	eventually(t, 10*time.Second, "the killed worker is a zombie (gone, not yet reaped)", func() bool {
		return processState(workerPID) == "Z"
	})
	conn, err := net.DialTimeout("tcp", p.listen, 5*time.Second)
	if err != nil {
		t.Fatalf("connect while the slot's worker is dead: %v (pinit must keep the slot's socket listening)", err)
	}
	defer conn.Close()
	if err := rawRequest(conn, "/"); err != nil {
		t.Fatalf("send the request while the slot's worker is dead: %v", err)
	}
	kill(t, pinitPID, syscall.SIGCONT)

	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request queued while the slot was empty got no answer: %v", err)
	}
	defer resp.Body.Close()
	h, err := doHelloResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if h.PID == old || h.WorkerID != "0" {
		t.Errorf("answered by %+v, want the replacement of pid %d in slot 0", h, old)
	}
}

func TestPoolCrashLoop(t *testing.T) {
	t.Parallel()
	// Workers crash at start while the flag file exists, and serve once it is gone.
	flag := filepath.Join(t.TempDir(), "crash")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `if [ -e "$1" ]; then exec "$2" crash; fi; exec "$2" serve`
	p := startPool(t, command{argv: []string{"/bin/sh", "-c", script, "sh", flag, workerBin}}, nil)

	rep := waitHealth(t, p.healthAddr, "/health", 503, 30*time.Second, nil)
	if rep.Status != "unavailable" {
		t.Errorf("/health 503 says status %q", rep.Status)
	}
	if code, rep, err := health(p.healthAddr, "/ready"); code != 503 {
		t.Errorf("/ready while every slot crash-loops: %d %+v %v, want 503", code, rep, err)
	}

	// Backoff: 0.1 s doubling for workers that die before they are up.
	lines := p.waitLogs("restart scheduled", 5, 30*time.Second, func(l logLine) bool { return l.num("slot") == 0 })
	var delays []time.Duration
	for _, l := range lines {
		d, err := time.ParseDuration(l.str("delay"))
		if err != nil {
			t.Fatalf("restart scheduled with delay %q: %v", l.str("delay"), err)
		}
		delays = append(delays, d)
	}
	if delays[0] != 100*time.Millisecond {
		t.Errorf("first restart delay %s, want 100ms", delays[0])
	}
	for i := 1; i < len(delays); i++ {
		if want := min(2*delays[i-1], 10*time.Second); delays[i] != want {
			t.Errorf("restart delays %v: delay %d is %s, want %s (0.1 s doubling)", delays, i, delays[i], want)
			break
		}
	}
	p.waitLogs("worker exited", 2, 10*time.Second, func(l logLine) bool { return l.num("exit_code") == 1 })

	// Once the workers stop crashing, the pool is live and ready again.
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	waitPoolUp(t, p.healthAddr, 2)
	if code, _, err := health(p.healthAddr, "/health"); code != 200 {
		t.Errorf("/health after the workers came up: %d %v, want 200", code, err)
	}
}

func TestPoolCrashLoopOneSlot(t *testing.T) {
	t.Parallel()
	// Only slot 1 crash-loops: the container is still live (slot 0 serves) but not ready.
	script := `if [ "$WORKER_ID" = 1 ]; then exec "$1" crash; fi; exec "$1" serve`
	p := startPool(t, command{argv: []string{"/bin/sh", "-c", script, "sh", workerBin}}, nil)
	rep := waitHealth(t, p.healthAddr, "/health", 200, 30*time.Second, func(r healthReport) bool {
		return len(r.Workers) == 2 && r.Workers[0].State == "up" && r.Workers[1].Restarts >= 4
	})
	if rep.Status != "ok" {
		t.Errorf("/health 200 says status %q", rep.Status)
	}
	if code, rep, err := health(p.healthAddr, "/ready"); code != 503 {
		t.Errorf("/ready while slot 1 crash-loops: %d %+v %v, want 503", code, rep, err)
	}
}

func TestPoolReloadUnderLoad(t *testing.T) {
	t.Parallel()
	testReloadUnderLoad(t, testWorker("serve"))
}

// testReloadUnderLoad: SIGHUP replaces every worker, one slot at a time, the
// new one up before the old one is told to stop, while a client loop of
// fresh and kept-alive connections runs.
//
// pinit keeps each slot's socket open through the reload, shared by the old
// worker and its replacement: a connection is never refused, and one the
// old worker did not accept waits in the socket for the new one. What the
// old worker accepted is its to answer. The test worker drains as a careful
// server does (testdata/testworker, drain), so with it the reload must cost
// no request at all: every fresh request answered 200, every keep-alive one
// too, once the client has retried, as HTTP/1.1 clients do, a request that
// met its connection being closed while idle.
//
// uvicorn does not: see uvicornDropsUnread.
func testReloadUnderLoad(t *testing.T, cmd command) {
	p := startPool(t, cmd, map[string]string{"LOG_LEVEL": "debug"})
	old := waitPoolUp(t, p.healthAddr, 2).pids()
	l := startLoad(t, p.url, 2, 2)
	l.waitMore(t, 200, 60*time.Second)

	p.signal(syscall.SIGHUP)
	p.waitLogs("reload finished", 1, 120*time.Second, nil)
	rep := waitPoolUp(t, p.healthAddr, 2)
	for _, pid := range rep.pids() {
		if slices.Contains(old, pid) {
			t.Errorf("pid %d still serves after the reload; before: %v, after: %v", pid, old, rep.pids())
		}
	}
	p.waitLogs("worker exited", 2, 60*time.Second, func(l logLine) bool { return slices.Contains(old, l.num("pid")) })
	l.waitMore(t, 200, 60*time.Second)
	l.halt()
	if refused := l.refused(); len(refused) > 0 {
		t.Errorf("%d connections refused during the reload (first: %v): a slot's socket stopped listening, yet pinit keeps it open",
			len(refused), refused[0])
	}
	if isTestWorker(cmd) {
		l.check(t, nil)
	} else {
		l.check(t, func(f loadFailure) bool { return uvicornDropsUnread(p.pinit, f, old) })
	}
	for pid := range serversSeen(t, p.url, 50) {
		if !slices.Contains(rep.pids(), pid) {
			t.Errorf("pid %d answered after the reload, want only %v", pid, rep.pids())
		}
	}
	checkRollingOrder(t, p.pinit, old, rep.pids())
}

// isTestWorker reports whether cmd runs testdata/testworker, which drains
// without dropping a request.
func isTestWorker(cmd command) bool { return len(cmd.argv) > 0 && cmd.argv[0] == workerBin }

// uvicornDropsUnread excuses a failure of uvicorn's own: a connection reset
// or closed without an answer, whose request began before one of the old
// workers exited and failed after it was told to stop.
//
// uvicorn 0.17 (Debian's python3-uvicorn 0.17.6), when its graceful shutdown
// begins, closes every connection that has no request in progress:
// uvicorn/server.py:263, Server.shutdown, calls connection.shutdown() on
// each, and uvicorn/protocols/http/httptools_impl.py:299 (the protocol it
// uses with httptools installed, as here) and h11_impl.py:291 do
// "if self.cycle is None or self.cycle.response_complete:
// self.transport.close()". So a connection
// it accepted whose request has not arrived or not been parsed yet is closed
// unanswered, and a fresh connection is not retried by any client. It
// happens without pinit, with any supervisor of a shared listening socket;
// pinit cannot answer for a connection its worker accepted.
func uvicornDropsUnread(p *pinit, f loadFailure, old []int) bool {
	return isResetOrEOF(f.err) && p.stopping(f, old)
}

// stopping reports whether a failed request may have been dropped by one of
// the workers pids in its graceful shutdown, by pinit's log: the request
// began before that worker exited and failed after it was told to stop.
func (p *pinit) stopping(f loadFailure, pids []int) bool {
	told := map[int]time.Time{}
	for _, l := range p.logs("") {
		pid := l.num("pid")
		if !slices.Contains(pids, pid) {
			continue
		}
		switch l.str("msg") {
		case "stopping worker":
			told[pid] = l.time()
		case "worker exited":
			if from, ok := told[pid]; ok && !f.at.Before(from) && !f.sent.After(l.time()) {
				return true
			}
		}
	}
	return false
}

// checkRollingOrder reads the reload from pinit's log: for each slot, the new
// worker starts, is up, and only then is the old one told to stop; and a slot
// is done before the next one begins.
func checkRollingOrder(t *testing.T, p *pinit, old, cur []int) {
	t.Helper()
	type steps struct{ started, up, stopping int }
	bySlot := map[int]*steps{}
	step := func(slot int) *steps {
		if bySlot[slot] == nil {
			bySlot[slot] = &steps{-1, -1, -1}
		}
		return bySlot[slot]
	}
	for i, l := range p.logs("") {
		pid, slot := l.num("pid"), l.num("slot")
		switch {
		case l.str("msg") == "worker started" && slices.Contains(cur, pid):
			step(slot).started = i
		case l.str("msg") == "worker up" && slices.Contains(cur, pid):
			step(slot).up = i
		case l.str("msg") == "stopping worker" && slices.Contains(old, pid):
			step(slot).stopping = i
		}
	}
	if len(bySlot) != len(cur) {
		t.Errorf("the reload's log lines name %d slots, want %d", len(bySlot), len(cur))
	}
	var order []*steps
	for slot, s := range bySlot {
		if s.started < 0 || s.up < 0 || s.stopping < 0 || s.started > s.up || s.up > s.stopping {
			t.Errorf("slot %d: log lines #%d started, #%d up (new worker), #%d stopping (old worker): want them all, in that order",
				slot, s.started, s.up, s.stopping)
			continue
		}
		order = append(order, s)
	}
	slices.SortFunc(order, func(a, b *steps) int { return a.started - b.started })
	for i := 1; i < len(order); i++ {
		if order[i].started < order[i-1].stopping {
			t.Errorf("a slot's new worker started (log line #%d) before the previous slot's old worker was stopped (#%d): not one slot at a time",
				order[i].started, order[i-1].stopping)
		}
	}
}

func TestPoolDrainWaitsForSlowRequests(t *testing.T) {
	t.Parallel()
	testDrainWaitsForSlowRequests(t, testWorker("serve"))
}

// testDrainWaitsForSlowRequests: SIGTERM while slow requests are in flight:
// they all complete with 200 and pinit exits 0.
func testDrainWaitsForSlowRequests(t *testing.T, cmd command) {
	p := startPool(t, cmd, nil)
	waitPoolUp(t, p.healthAddr, 2)
	// Up by pinit's 1 s rule is not yet serving, for a uvicorn on a loaded machine.
	waitServers(t, p.url, 2, 60*time.Second)

	// Slow requests, in flight when SIGTERM comes. On a machine so loaded
	// that they end before the test has seen them all in flight, a new batch
	// takes twice as long.
	var b *slowBatch
	for ms := 1500; b == nil; ms *= 2 {
		if ms > 24000 {
			t.Fatal("the slow requests keep ending before the test sees them all in flight")
		}
		b = startSlowBatch(t, p, 6, ms, !isTestWorker(cmd))
	}
	p.signal(syscall.SIGTERM)
	b.signalled.Store(true)

	after := 0
	for range b.n {
		r := <-b.results
		if r.err != nil {
			t.Errorf("slow request in flight during the drain: %v", r.err)
		}
		if r.after {
			after++
		}
	}
	if after == 0 {
		t.Errorf("every slow request had its answer before SIGTERM was sent: the drain was not tested")
	}
	if code := p.wait(60 * time.Second); code != 0 {
		t.Errorf("pinit exited %d, want 0: every worker ended within the grace", code)
	}
	p.waitLogs("drain started", 1, time.Second, nil)
	p.waitLogs("drain finished", 1, time.Second, nil)
}

func TestPoolDrainUnderLoad(t *testing.T) {
	t.Parallel()
	testDrainUnderLoad(t, testWorker("serve"))
}

// testDrainUnderLoad: SIGTERM while clients keep their connections busy.
// The load is taken out first, as a load balancer takes an instance out
// before it stops it (that is what /ready and DRAIN_DELAY are for): no new
// connection from then on, and the fresh requests in flight end. The
// kept-alive connections carry on until the server ends them. Every request
// on them is answered (a request that meets its connection closed while
// idle is retried by the client, on a new connection it is then not allowed
// to open: held back, not failed); pinit exits 0; and once it has, the port
// refuses connections.
//
// Without the load balancer's part, a connection that reaches a slot's
// socket just as its last worker closes it is reset by the kernel, queued,
// unaccepted, with no one to answer it: nothing pinit or a worker can do
// about that, but take the instance out first.
func testDrainUnderLoad(t *testing.T, cmd command) {
	p := startPool(t, cmd, nil)
	waitPoolUp(t, p.healthAddr, 2)
	const fresh, keep = 2, 4
	l := startLoad(t, p.url, fresh, keep)
	l.waitMore(t, 200, 60*time.Second)
	l.holdBack()
	before := l.keep.ok.Load()

	p.signal(syscall.SIGTERM)
	if code := p.wait(60 * time.Second); code != 0 {
		t.Errorf("pinit exited %d, want 0: every worker ended within the grace", code)
	}
	// Each kept-alive connection was ended by its worker: its client then
	// wanted a new one, and was held back, as the fresh ones were.
	eventually(t, 30*time.Second, "every client of the load was held back", func() bool { return l.heldBack.Load() == fresh+keep })
	l.halt()
	l.check(t, nil)
	t.Logf("keep-alive requests answered after SIGTERM: %d; clients held back: %d, %d of them retrying a request whose connection was closed",
		l.keep.ok.Load()-before, l.heldBack.Load(), l.heldRetry.Load())

	refused := 0
	for range 20 {
		c, err := net.DialTimeout("tcp", p.listen, 5*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("a connection to %s was accepted after pinit exited", p.listen)
			continue
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("connect after pinit exited: %v, want connection refused", err)
			continue
		}
		refused++
	}
	t.Logf("connections refused after pinit exited: %d of 20", refused)
	p.waitLogs("drain finished", 1, time.Second, nil)
}

// slowBatch is n requests for /slow?ms=... sent at once.
type slowBatch struct {
	n         int
	written   atomic.Int32
	signalled atomic.Bool
	results   chan slowResult
}

type slowResult struct {
	err   error
	after bool // the answer came after SIGTERM was sent
}

// startSlowBatch sends n slow requests and waits until they are in flight:
// written and accepted by a worker (the drain closes the slot sockets, and
// with them what waits in their queues), and with read, the request read
// too: a worker that stops may drop a connection it has not read a request
// from, as uvicorn does (see uvicornDropsUnread); the test worker answers
// them. On loopback a written request is in the server's socket at once, so
// read means no established socket holds unread bytes. If some request ends
// before that was seen, it waits for the rest, checks they all succeeded,
// and returns nil.
func startSlowBatch(t *testing.T, p *poolRun, n, ms int, read bool) *slowBatch {
	t.Helper()
	b := &slowBatch{n: n, results: make(chan slowResult, n)}
	url := fmt.Sprintf("%sslow?ms=%d", p.url, ms)
	for range n {
		go func() {
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { b.written.Add(1) }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, url, nil)
			_, err := doHello(freshClient(), req)
			b.results <- slowResult{err, b.signalled.Load()}
		}()
	}
	inFlight := false
	eventually(t, time.Duration(ms)*time.Millisecond+60*time.Second, fmt.Sprintf("the %d slow requests are in flight", n), func() bool {
		s := tcpSockets(p.listenPort())
		inFlight = int(b.written.Load()) == n && s.queued == 0 && s.established >= n && (!read || s.unread == 0) && len(b.results) == 0
		return inFlight || len(b.results) > 0
	})
	if inFlight {
		return b
	}
	for range n {
		if r := <-b.results; r.err != nil {
			t.Fatalf("slow request: %v", r.err)
		}
	}
	t.Logf("the %d ms requests ended before they were all seen in flight; again, slower", ms)
	return nil
}

func TestPoolGraceKillsIgnoringWorker(t *testing.T) {
	t.Parallel()
	// Not in a PID namespace: there, every process of the namespace dies with
	// pinit, so the test could not tell whether pinit killed the worker's
	// child. Here an orphan pinit forgot would survive it.
	p := start(t, opts{env: map[string]string{"WORKERS": "1", "LISTEN": "none", "GRACE_TIMEOUT": "1s"}},
		workerBin, "ignore-term", "--children", "1")
	out := p.waitStdout("ready pids ", 30*time.Second)
	line := out[strings.Index(out, "ready pids "):]
	line = line[:strings.IndexByte(line, '\n')]
	var pids []int
	for _, f := range strings.Fields(strings.TrimPrefix(line, "ready pids ")) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		pids = append(pids, n)
	}
	if len(pids) != 2 {
		t.Fatalf("want the worker's pid and its child's, got %q", line)
	}
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 1 {
		t.Errorf("pinit exited %d, want 1: the worker had to be killed", code)
	}
	for _, pid := range pids {
		eventually(t, 10*time.Second, fmt.Sprintf("process %d is dead", pid), func() bool {
			s := processState(pid)
			return s == "" || s == "Z"
		})
	}
	sig := p.waitLogs("signal received", 1, time.Second, func(l logLine) bool { return l.str("signal") == "SIGTERM" })
	killed := p.waitLogs("grace timeout: killing the worker's process group", 1, time.Second, nil)
	if d := killed[0].time().Sub(sig[0].time()); d < time.Second {
		t.Errorf("the worker was killed %s after SIGTERM, before GRACE_TIMEOUT=1s", d)
	}
}

// TestPoolReadyWaitsForNotify: a worker that speaks sd_notify is up once it
// sends READY=1, not after pinit's 1 s.
//
// pinit counts a worker that has said nothing within 1 s as up. The workers
// here say STATUS=starting before anything else, but on a loaded machine even
// that may come more than 1 s after pinit started them, and then pinit is
// right to count them up: such a run shows nothing. So a run counts only if
// every worker spoke within notifyBudget of pinit's own start, which comes
// before the moment pinit counts the 1 s from; that leaves pinit half a
// second to read the message before its timer. A run that does not count is
// ended and a new pinit started; after five the test fails, as it has shown
// nothing.
func TestPoolReadyWaitsForNotify(t *testing.T) {
	t.Parallel()
	const readyAfter = 3 * time.Second
	const notifyBudget = 500 * time.Millisecond
	cmd := testWorker("serve", "--notify", "--status-first", "--delay-ready", readyAfter.String())
	for run := 1; ; run++ {
		p := startPool(t, cmd, map[string]string{"LOG_LEVEL": "debug"})
		spoke := lastSpoke(t, p, 2)
		if spoke <= notifyBudget {
			checkReadyWaitsForNotify(t, p, readyAfter)
			return
		}
		if run == 5 {
			t.Fatalf("in %d runs the workers never all spoke sd_notify within %s of pinit's start (last run: %s): nothing was shown",
				run, notifyBudget, spoke)
		}
		t.Logf("run %d: a worker spoke sd_notify %s after pinit started, too late to tell; once more", run, spoke)
		p.killGroup()
	}
}

// lastSpoke waits until n workers have said STATUS=starting (testworker
// serve --status-first), and returns how long after pinit's own start the
// last of them did.
func lastSpoke(t *testing.T, p *poolRun, n int) time.Duration {
	t.Helper()
	out := p.waitOutput(p.stderr, "stderr", " said STATUS=starting at boottime ", n, 60*time.Second)
	began := bootStarted(t, p.pid())
	var last time.Duration
	for _, line := range strings.Split(out, "\n") {
		var pid int
		var at int64
		if _, err := fmt.Sscanf(line, "pid %d said STATUS=starting at boottime %d", &pid, &at); err == nil {
			last = max(last, time.Duration(at)-began)
		}
	}
	return last
}

// bootStarted is when process pid started, by CLOCK_BOOTTIME: /proc's
// starttime, in clock ticks of 1/100 s (USER_HZ), so up to 10 ms early.
func bootStarted(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	// After the command's name, f[0] is field 3 of proc(5), the state; starttime is field 22.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		t.Fatalf("/proc/%d/stat: starttime %q: %v", pid, f[19], err)
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// checkReadyWaitsForNotify: /ready is 503 while the workers start, and turns
// 200 only once they sent READY=1, readyAfter after they started.
func checkReadyWaitsForNotify(t *testing.T, p *poolRun, readyAfter time.Duration) {
	t.Helper()
	starting := 0
	var rep healthReport
	eventually(t, 60*time.Second, "/ready says 200 with both workers up", func() bool {
		code, r, err := health(p.healthAddr, "/ready")
		if err != nil {
			return false
		}
		if code == 503 && r.State == "starting" {
			starting++
		}
		rep = r
		return code == 200 && r.allUp(2)
	})
	if starting == 0 {
		t.Errorf("/ready never said 503 while the workers were starting")
	}
	for _, w := range rep.Workers {
		if w.Uptime < readyAfter.Seconds()-0.05 {
			t.Errorf("/ready 200 when worker %d had run %.3fs, before it sent READY=1 (after %s)", w.PID, w.Uptime, readyAfter)
		}
	}
	for _, l := range p.waitLogs("worker up", 2, 10*time.Second, nil) {
		if l.str("by") != "READY=1" {
			t.Errorf("worker %d counted as up by %q, want READY=1", l.num("pid"), l.str("by"))
		}
	}
}

func TestPoolBindConflict(t *testing.T) {
	t.Parallel()
	// Held without SO_REUSEPORT (Go's net.Listen sets only SO_REUSEADDR).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := ln.Addr().String()
	_, port, _ := net.SplitHostPort(held)
	for _, listen := range []string{held, ":" + port} {
		t.Run(listen, func(t *testing.T) {
			p, code := run(t, opts{env: map[string]string{"WORKERS": "2", "LISTEN": listen, "HEALTH_LISTEN": addr(t)}, pidns: true},
				workerBin, "signals")
			if code != 1 {
				t.Errorf("pinit exited %d with LISTEN=%s taken, want 1", code, listen)
			}
			stderr := p.stderr.String()
			// One plain line, as for an invalid variable or a command that
			// cannot be run: the first thing a person reads, not a log record.
			if lines := stderrLines(p); len(lines) != 1 || !strings.HasPrefix(lines[0], "pinit: ") {
				t.Errorf("stderr %q, want one line starting with %q", lines, "pinit: ")
			}
			if !strings.Contains(stderr, "LISTEN=") || !strings.Contains(stderr, listen) || !strings.Contains(stderr, "address already in use") {
				t.Errorf("the error does not name LISTEN=%s and the cause: %s", listen, stderr)
			}
			if strings.Contains(stderr, "worker started") || strings.Contains(p.stdout.String(), "ready") {
				t.Errorf("a worker was started although LISTEN could not be bound")
			}
		})
	}
}

// TestPoolListenDefaultsToPORT: in pool mode without LISTEN, pinit binds
// :$PORT (Cloud Run sets PORT), and SIGINT drains like SIGTERM.
func TestPoolListenDefaultsToPORT(t *testing.T) {
	t.Parallel()
	port := port(t)
	ha := addr(t)
	p := start(t, opts{pidns: true, env: map[string]string{
		"WORKERS": "2", "PORT": strconv.Itoa(port), "HEALTH_LISTEN": ha, "GRACE_TIMEOUT": "20s",
	}}, workerBin, "serve")
	waitPoolUp(t, ha, 2)
	seen := waitServers(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/", 2, 60*time.Second)
	if len(seen) != 2 {
		t.Fatalf("requests on :PORT reached %d workers, want 2", len(seen))
	}
	p.signal(syscall.SIGINT)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("after SIGINT pinit exited %d, want 0 (a clean drain)", code)
	}
	p.waitLog(`"drain finished"`, 5*time.Second)
}
