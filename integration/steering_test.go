package integration

// Steering (CONTRACT.md, pool mode): new connections go only to slots whose
// worker is up and accepting. Each test turns around one way a slot used to
// hold 1/N of new connections hostage, and checks it from the clients' side:
// requests answered, how long they took, which pid answered.

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"
)

// slowLimit is how long a request may take in these tests: the test worker
// answers in microseconds, and a connection that waits for a worker that
// will not accept waits seconds.
const slowLimit = time.Second

// startSteeredPool is startPool, or (steer false) startPool on a kernel that
// refuses pinit's reuseport program: pinit runs under the test worker's
// seccomp wrapper, which answers EPERM to SO_ATTACH_REUSEPORT_CBPF.
func startSteeredPool(t *testing.T, steer bool, cmd command, env map[string]string) *poolRun {
	t.Helper()
	if steer {
		return startPool(t, cmd, env)
	}
	return startPoolWrapped(t, []string{workerBin, "no-reuseport-bpf"}, cmd, env)
}

// workerHostPID is the host pid of the worker serving slot i.
func (p *poolRun) workerHostPID(t *testing.T, slot int) int {
	t.Helper()
	code, rep, err := health(p.healthAddr, "/health")
	if err != nil || code != 200 {
		t.Fatalf("/health: %d %v", code, err)
	}
	for _, w := range rep.Workers {
		if w.Slot == slot {
			return p.hostPID(w.PID)
		}
	}
	t.Fatalf("no slot %d in %+v", slot, rep)
	return 0
}

// checkNoneSlowSince fails the test if a request sent after since failed or
// took over slowLimit.
func checkNoneSlowSince(t *testing.T, l *load, since time.Time) {
	t.Helper()
	slow, failed := l.slowSince(since, slowLimit)
	if len(slow) > 0 || len(failed) > 0 {
		t.Errorf("after %s: %d requests over %s (first %+v), %d failed (%v)",
			since.Format("15:04:05.000"), len(slow), slowLimit, first(slow), len(failed), first(failed))
	}
	l.mu.Lock()
	t.Logf("%d requests answered, by pid %v", len(l.answered), l.pids)
	l.mu.Unlock()
}

func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// A worker is killed and its replacement needs 3 s to accept (it says so by
// speaking sd_notify at once and READY=1 only then): once pinit has seen the
// death, new connections go to the other slot. Without steering (the
// negative control) those hashed to the dead slot wait for the replacement.
func TestSteeringKilledWorkerSlowReplacement(t *testing.T) {
	t.Parallel()
	for _, steer := range []bool{true, false} {
		t.Run(fmt.Sprintf("steering=%v", steer), func(t *testing.T) {
			t.Parallel()
			p := startSteeredPool(t, steer, testWorker("serve", "--status-first", "--notify", "--delay-serve", "3s"),
				map[string]string{"LOG_LEVEL": "debug"})
			waitPoolUp(t, p.healthAddr, 2)
			kill(t, p.workerHostPID(t, 0), syscall.SIGKILL)
			exited := p.waitLogs("worker exited", 1, 10*time.Second, nil)[0]
			if steer {
				// pinit logs the exit, then steers away from the slot: on a
				// loaded machine that can be tens of milliseconds later
				// (measured: 39 ms), and a request sent in between waits
				// for the replacement.
				p.waitLogs("steering", 1, 10*time.Second, func(l logLine) bool {
					return l.num("slots") == 1 && !l.time().Before(exited.time())
				})
			}
			since := time.Now()
			l := startLoad(t, p.url, 8, 0)
			waitPoolUp(t, p.healthAddr, 2) // the replacement accepts, 3 s on
			l.waitMore(t, 100, 30*time.Second)
			l.halt()
			if steer {
				checkNoneSlowSince(t, l, since)
				return
			}
			if slow, _ := l.slowSince(since, slowLimit); len(slow) == 0 {
				t.Errorf("negative control: without steering no request waited for the replacement")
			}
		})
	}
}

// A slot whose worker exits at start, again and again, takes no connection.
func TestSteeringCrashLoopingSlot(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve", "--crash-worker", "1"), nil)
	// Slot 0 serves; slot 1 has died on start three times: a crash loop.
	waitHealth(t, p.healthAddr, "/health", 200, 30*time.Second, func(r healthReport) bool {
		return len(r.Workers) == 2 && r.Workers[0].State == "up" && r.Workers[1].Restarts >= 3
	})
	start := time.Now()
	l := startLoad(t, p.url, 8, 0)
	l.waitMore(t, 500, 30*time.Second)
	l.halt()
	checkNoneSlowSince(t, l, start)
	if code, rep, _ := health(p.healthAddr, "/health"); code != 200 || rep.Steering != "bpf" {
		t.Errorf("/health %d %+v: want 200 (one slot serves) and steering bpf", code, rep)
	}
}

// A worker stopped with SIGSTOP (an event loop blocked) is steered away from
// within about a second and killed at WORKER_TIMEOUT; the connections that
// waited in its queue are answered by its replacement.
func TestSteeringHungWorker(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), map[string]string{"WORKER_TIMEOUT": "5s"})
	waitPoolUp(t, p.healthAddr, 2)
	l := startLoad(t, p.url, 8, 0)
	l.waitMore(t, 200, 30*time.Second)
	hung := p.workerHostPID(t, 0)
	kill(t, hung, syscall.SIGSTOP)
	eventually(t, 5*time.Second, "the worker is stopped", func() bool { return processState(hung) == "T" })
	stopped := time.Now() // from now on it accepts nothing
	stalled := p.waitLogs("slot stalled: steering new connections away", 1, 10*time.Second, nil)[0]
	if stalled.num("slot") != 0 || stalled.num("queue") < 1 {
		t.Errorf("stalled %v, want slot 0 with a queue", stalled)
	}
	rep := waitHealth(t, p.healthAddr, "/health", 200, 5*time.Second, func(r healthReport) bool {
		return len(r.Workers) == 2 && r.Workers[0].State == "stalled"
	})
	if rep.Steering != "bpf" || rep.Workers[0].Queue < 1 {
		t.Errorf("/health during the stall: %+v, want steering bpf and slot 0's queue", rep)
	}
	// New clients, while the worker hangs: all served by slot 1, at once.
	steered := time.Now()
	l2 := startLoad(t, p.url, 8, 0)
	l2.waitMore(t, 200, 30*time.Second)
	l2.halt()
	checkNoneSlowSince(t, l2, steered)
	if len(p.logs("worker exited")) > 0 {
		t.Fatal("the hung worker was killed before the second load ended: raise WORKER_TIMEOUT")
	}

	timedOut := p.waitLogs("worker timed out: sending SIGABRT, then SIGKILL", 1, 20*time.Second, nil)[0]
	if timedOut.str("why") != "accept queue not taken" {
		t.Errorf("timed out because %q", timedOut.str("why"))
	}
	p.waitLogs("worker exited", 1, 10*time.Second, nil)
	replacement := waitPoolUp(t, p.healthAddr, 2).Workers[0].PID
	l.waitMore(t, 200, 30*time.Second)
	l.halt()
	// None sent once it was stopped failed. (One that it had accepted before
	// it stopped is reset when it is killed.)
	if _, failed := l.slowSince(stopped, slowLimit); len(failed) > 0 {
		t.Errorf("%d requests sent after the SIGSTOP failed: %v", len(failed), failed)
	}
	// Those that waited in the hung worker's queue were answered by its
	// replacement: late, but answered.
	waited := 0
	for _, a := range l.answeredBy(replacement) {
		if a.took > slowLimit {
			waited++
		}
	}
	if waited == 0 {
		t.Errorf("no request that waited in the hung worker's queue was answered by its replacement %d", replacement)
	}
}

// SIGTTOU under load: the removed slot is steered away from first and its
// worker stops once its queue is empty; no request fails.
func TestSteeringScaleDownUnderLoad(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), map[string]string{"WORKERS": "3"})
	waitPoolUp(t, p.healthAddr, 3)
	l := startLoad(t, p.url, 8, 2)
	l.waitMore(t, 300, 30*time.Second)
	p.signal(syscall.SIGTTOU)
	p.waitLogs("worker exited", 1, 20*time.Second, nil)
	waitPoolUp(t, p.healthAddr, 2)
	l.waitMore(t, 300, 30*time.Second)
	p.signal(syscall.SIGTTOU)
	p.waitLogs("worker exited", 2, 20*time.Second, nil)
	waitPoolUp(t, p.healthAddr, 1)
	l.waitMore(t, 300, 30*time.Second)
	l.halt()
	l.check(t, nil)
}

// Workers that are idle, or busy with slow requests they keep accepting
// beside, are never timed out.
func TestSteeringNeverKillsIdleOrBusyWorkers(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), map[string]string{"WORKER_TIMEOUT": "2s"})
	before := waitPoolUp(t, p.healthAddr, 2).pids()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) { // idle
		if _, rep, err := health(p.healthAddr, "/health"); err == nil && !slices.Equal(rep.pids(), before) {
			t.Fatalf("idle workers replaced: %v, were %v", rep.pids(), before)
		}
		time.Sleep(100 * time.Millisecond) // a polling interval: the pids must stay put all along
	}
	busy := make(chan error, 8)
	for range 8 { // 3 s requests, four at a time per worker on average
		go func() {
			_, err := getHello(freshClient(), p.url+"slow?ms=3000")
			busy <- err
		}()
	}
	for range 8 {
		if err := <-busy; err != nil {
			t.Errorf("slow request: %v", err)
		}
	}
	if _, rep, _ := health(p.healthAddr, "/health"); !slices.Equal(rep.pids(), before) {
		t.Fatalf("busy workers replaced: %v, were %v", rep.pids(), before)
	}
	if lines := p.logs("worker timed out: sending SIGABRT, then SIGKILL"); len(lines) > 0 {
		t.Fatalf("timed out: %v", lines)
	}
}

// A worker that sent WATCHDOG=1 once is held to it.
func TestWatchdogKillsASilentWorker(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve", "--notify", "--watchdog-once"),
		map[string]string{"WORKERS": "1", "WORKER_TIMEOUT": "2s"})
	first := waitPoolUp(t, p.healthAddr, 1).pids()[0]
	l := p.waitLogs("worker timed out: sending SIGABRT, then SIGKILL", 1, 20*time.Second, nil)[0]
	if l.str("why") != "no WATCHDOG=1" || l.num("pid") != first {
		t.Errorf("timed out %v, want pid %d for no WATCHDOG=1", l, first)
	}
	rep := waitHealth(t, p.healthAddr, "/ready", 200, 20*time.Second, func(r healthReport) bool {
		return r.allUp(1) && r.pids()[0] != first
	})
	t.Logf("replaced by %d", rep.pids()[0])
}

// Where the kernel refuses the program, pinit warns once and the pool serves
// on the kernel's hashing.
func TestSteeringRefused(t *testing.T) {
	t.Parallel()
	p := startSteeredPool(t, false, testWorker("serve"), nil)
	rep := waitPoolUp(t, p.healthAddr, 2)
	if rep.Steering != "kernel" {
		t.Errorf("/health steering %q, want kernel", rep.Steering)
	}
	waitServers(t, p.url, 2, 30*time.Second)
	if n := len(p.logs("steering unavailable: the kernel spreads new connections over every slot, hung or not")); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}

// Spread over two healthy workers stays as even as the kernel's own hashing.
func TestSteeringSpread(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), nil)
	// The kernel's own hashing spreads as evenly: without a program this
	// test would pass too.
	if rep := waitPoolUp(t, p.healthAddr, 2); rep.Steering != "bpf" {
		t.Fatalf("/health steering %q, want bpf", rep.Steering)
	}
	seen := map[int]int{}
	for range 1000 {
		seen[mustHello(t, p.url).PID]++
	}
	for pid, n := range seen {
		if n < 400 || n > 600 {
			t.Errorf("worker %d got %d of 1000 fresh connections, want 400 to 600: %v", pid, n, seen)
		}
	}
	if len(seen) != 2 {
		t.Errorf("answers from %v, want two workers", seen)
	}
}

// WORKERS=1 and a worker that takes one connection at a time: under load its
// queue never empties, yet it is working. With no other slot to steer to,
// pinit does not take it for hung (it uses CPU); stopped, it is.
func TestSteeringSingleSyncWorker(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve", "--serial"), map[string]string{"WORKERS": "1", "WORKER_TIMEOUT": "3s"})
	waitPoolUp(t, p.healthAddr, 1)
	busy := make(chan error, 8)
	stop := make(chan struct{})
	for range 8 {
		go func() {
			for {
				select {
				case <-stop:
					busy <- nil
					return
				default:
				}
				if _, err := getHello(freshClient(), p.url+"slow?ms=20"); err != nil {
					busy <- err
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) { // 8 s of backlog: more than WORKER_TIMEOUT
		if n := len(p.logs("worker timed out: sending SIGABRT, then SIGKILL")); n > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond) // a polling interval over a fixed span of load
	}
	close(stop)
	for range 8 {
		if err := <-busy; err != nil {
			t.Errorf("request: %v", err)
		}
	}
	if lines := p.logs("worker timed out: sending SIGABRT, then SIGKILL"); len(lines) > 0 {
		t.Fatalf("a busy worker was timed out: %v", lines)
	}
	// Stopped, it is found even with nowhere to steer to.
	hung := p.workerHostPID(t, 0)
	kill(t, hung, syscall.SIGSTOP)
	go getHello(freshClient(), p.url) // a connection that waits in its queue
	l := p.waitLogs("worker timed out: sending SIGABRT, then SIGKILL", 1, 30*time.Second, nil)[0]
	if l.str("why") != "accept queue not taken" {
		t.Errorf("timed out because %q", l.str("why"))
	}
	waitPoolUp(t, p.healthAddr, 1)
}
