//go:build linux

package workers

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
	pid1 "github.com/pinit/pinit/init"
)

// fakeWorld is the outside of a Pool under test: a clock that moves only when
// told, a process table of fake pids, exits waiting for the reaper, and a
// record of every signal sent. It drives the pool only as Run does: through
// handle, and with the timer firing at nextDeadline.
type fakeWorld struct {
	t       *testing.T
	p       *Pool
	now     time.Time
	nextPID int
	started []pid1.Proc
	sent    []sent
	exits   []pid1.Exit // what the next reap collects
	timer   time.Time   // when Run's timer would fire: nextDeadline, taken after every event
	board   *health.Board

	// Slot sockets, with Config.Listen set: fake fds from 10 up.
	nextFD   int
	queues   map[int]int // accept queue by fd
	left     []int       // fds closed with leave (shut down: out of the group)
	programs [][]int     // the targets of every program attached
	steerErr error       // what attaching answers
}

type sent struct {
	pid int
	sig os.Signal
}

func newFake(t *testing.T, n int, mod func(*Config)) *fakeWorld {
	return newFakeSteering(t, n, mod, nil)
}

// newFakeSteering is newFake on a kernel that answers steerErr to every
// program pinit attaches.
func newFakeSteering(t *testing.T, n int, mod func(*Config), steerErr error) *fakeWorld {
	f := &fakeWorld{t: t, now: time.Unix(1000, 0), nextPID: 100, board: &health.Board{}, steerErr: steerErr}
	cfg := Config{Path: "/app", Argv: []string{"app"}, Workers: n, Grace: 9 * time.Second,
		StopSignal: unix.SIGTERM, Board: f.board}
	if mod != nil {
		mod(&cfg)
	}
	f.p = newPool(cfg)
	f.p.now = func() time.Time { return f.now }
	f.p.start = func(pr pid1.Proc) (int, error) {
		f.nextPID++
		f.started = append(f.started, pr)
		return f.nextPID, nil
	}
	f.p.kill = func(pid int, sig os.Signal) error {
		f.sent = append(f.sent, sent{pid, sig})
		return nil
	}
	f.nextFD, f.queues = 10, map[int]int{}
	f.p.bind = func(string) (int, error) {
		f.nextFD++
		return f.nextFD - 1, nil
	}
	f.p.closeFD = func(fd int, leave bool) {
		if leave {
			f.left = append(f.left, fd)
		}
	}
	f.p.steerTo = func(fd int, targets []int) error {
		if f.steerErr != nil {
			return f.steerErr
		}
		f.programs = append(f.programs, slices.Clone(targets))
		return nil
	}
	f.p.queueLen = func(fd int) (int, error) { return f.queues[fd], nil }
	f.p.jitter = func(max time.Duration) time.Duration { return max / 2 }
	f.p.reap = func(buf []pid1.Exit) []pid1.Exit {
		buf = append(buf, f.exits...)
		f.exits = nil
		return buf
	}
	for range n {
		if _, err := f.p.addSlot(); err != nil {
			t.Fatal(err)
		}
	}
	f.p.reconcile() // as Run begins
	f.timer = f.p.nextDeadline()
	return f
}

// handle is one turn of Run's loop: the event, then the timer reset.
func (f *fakeWorld) handle(ev event) {
	f.p.handle(ev)
	f.timer = f.p.nextDeadline()
}

// advance moves the clock by d the way Run's timer would: the pool wakes at
// each deadline on the way (and only then), which must move forward.
func (f *fakeWorld) advance(d time.Duration) {
	f.t.Helper()
	end := f.now.Add(d)
	for range 100000 {
		if f.timer.After(end) {
			f.now = end
			return
		}
		if !f.timer.After(f.now) {
			f.t.Fatalf("nextDeadline %v is not after now %v: Run would spin", f.timer, f.now)
		}
		f.now = f.timer
		f.handle(event{})
	}
	f.t.Fatal("the pool woke 100000 times in one advance")
}

func (f *fakeWorld) signal(sig unix.Signal) {
	f.handle(event{sig: sig})
}

func (f *fakeWorld) notify(m notifyMsg) {
	f.handle(event{note: &m})
}

// exit reports pid as exited with code (or killed by sig when sig != 0),
// the way the kernel does: a SIGCHLD, then the reaper collects it.
func (f *fakeWorld) exit(pid, code int, sig unix.Signal) {
	ws := unix.WaitStatus(code << 8)
	if sig != 0 {
		ws = unix.WaitStatus(sig)
	}
	f.exits = append(f.exits, pid1.Exit{PID: pid, Status: ws})
	f.handle(event{sig: unix.SIGCHLD})
}

// slotPID is the pid serving slot i.
func (f *fakeWorld) slotPID(i int) int {
	f.t.Helper()
	if f.p.slots[i].cur == nil {
		f.t.Fatalf("slot %d is empty", i)
	}
	return f.p.slots[i].cur.pid
}

func (f *fakeWorld) takeSent() []sent {
	s := f.sent
	f.sent = nil
	return s
}

func TestPoolStartsEveryWorkerAndIsReadyWhenUp(t *testing.T) {
	f := newFake(t, 3, nil)
	if len(f.started) != 3 {
		t.Fatalf("started %d workers, want 3", len(f.started))
	}
	for i, pr := range f.started {
		if !slices.Contains(pr.Env, fmt.Sprintf("WORKER_ID=%d", i)) {
			t.Errorf("worker %d env lacks WORKER_ID=%d: %q", i, i, pr.Env)
		}
	}
	if st := f.board.Get(); st.Ready || st.State != "starting" {
		t.Fatalf("before 1s: %+v, want starting and not ready", st)
	}
	f.advance(999 * time.Millisecond)
	if f.board.Get().Ready {
		t.Fatal("ready before a silent worker ran 1s")
	}
	f.advance(time.Millisecond)
	if st := f.board.Get(); !st.Ready || st.State != "running" || !st.Live {
		t.Fatalf("after 1s: %+v, want running, live, ready", st)
	}
}

func TestPoolSdNotify(t *testing.T) {
	f := newFake(t, 1, nil)
	pid := f.slotPID(0)
	f.notify(notifyMsg{pid: pid, ready: false}) // STATUS=booting: a speaker
	f.advance(5 * time.Second)
	if f.board.Get().Ready {
		t.Fatal("a worker that speaks sd_notify is up only on READY=1")
	}
	f.notify(notifyMsg{pid: pid, ready: true})
	if !f.board.Get().Ready {
		t.Fatal("READY=1 did not make the worker up")
	}
}

func TestPoolIgnoresNotifyFromStrangers(t *testing.T) {
	f := newFake(t, 1, nil)
	f.notify(notifyMsg{pid: 4242, ready: true}) // not a worker of the pool
	if st := f.board.Get(); st.Ready || st.Workers[0].State != health.WorkerStarting {
		t.Fatalf("READY=1 from an unknown pid changed the pool: %+v", st)
	}
	f.notify(notifyMsg{pid: f.slotPID(0), ready: false}) // the worker speaks: no 1 s rule
	f.advance(2 * time.Second)
	if f.board.Get().Ready {
		t.Fatal("the worker is up without its own READY=1")
	}
}

func TestPoolRestartBackoffAndCrashLoop(t *testing.T) {
	f := newFake(t, 2, nil)
	f.advance(2 * time.Second) // both up
	// Slot 0's worker is killed: replaced at once, same slot.
	old := f.slotPID(0)
	f.exit(old, 0, unix.SIGKILL)
	if got := f.slotPID(0); got == old {
		t.Fatal("slot 0 not restarted at once")
	}
	if f.p.slots[0].restarts != 1 {
		t.Fatalf("restarts = %d, want 1", f.p.slots[0].restarts)
	}
	f.exit(f.slotPID(1), 0, unix.SIGKILL) // slot 1's first death: at once too
	// Now every worker dies at once: delays 0.1, 0.2, 0.4 s ...
	for _, want := range []time.Duration{100, 200, 400, 800} {
		want *= time.Millisecond
		for i := range 2 {
			f.exit(f.slotPID(i), 1, 0)
			if f.p.slots[i].cur != nil {
				t.Fatalf("slot %d restarted without waiting", i)
			}
		}
		f.advance(want - time.Millisecond)
		if f.p.slots[0].cur != nil || f.p.slots[1].cur != nil {
			t.Fatalf("restarted before the %v backoff", want)
		}
		f.advance(time.Millisecond)
		f.slotPID(0)
		f.slotPID(1)
	}
	st := f.board.Get()
	if st.Live || st.Ready {
		t.Fatalf("every slot crash-looping: %+v, want not live and not ready", st)
	}
	// One slot recovers: the pool is live again, but not ready until both are up.
	f.advance(time.Second)
	if !f.board.Get().Live {
		t.Fatal("a worker up again: want live")
	}
}

func TestPoolBackoffResetsAfterTenSeconds(t *testing.T) {
	f := newFake(t, 1, nil)
	f.exit(f.slotPID(0), 1, 0) // died before it was up: waits 0.1 s
	if f.p.slots[0].cur != nil {
		t.Fatal("a worker that died on start was restarted without a delay")
	}
	f.advance(100 * time.Millisecond)
	f.exit(f.slotPID(0), 1, 0) // 0.2 s
	f.advance(200 * time.Millisecond)
	f.slotPID(0)
	f.advance(backoffReset)
	f.exit(f.slotPID(0), 1, 0) // was up and ran 10 s: at once again
	f.slotPID(0)
}

func TestPoolCrashLoopNeedsEverySlot(t *testing.T) {
	f := newFake(t, 2, nil)
	f.advance(2 * time.Second)
	for range 5 {
		f.exit(f.slotPID(0), 1, 0)
		f.untilStarted(0)
	}
	if !f.p.slots[0].crashLooping() {
		t.Fatal("slot 0 should be crash-looping")
	}
	if st := f.board.Get(); !st.Live || st.Ready {
		t.Fatalf("one of two slots crash-looping: %+v, want live and not ready", st)
	}
}

// untilStarted advances the clock in small steps until slot i has a worker.
func (f *fakeWorld) untilStarted(i int) {
	f.t.Helper()
	for range 1000 {
		if f.p.slots[i].cur != nil {
			return
		}
		f.advance(10 * time.Millisecond)
	}
	f.t.Fatalf("slot %d never restarted", i)
}

func TestPoolRollingReload(t *testing.T) {
	f := newFake(t, 2, nil)
	f.advance(time.Second)
	old0, old1 := f.slotPID(0), f.slotPID(1)
	f.takeSent()
	f.signal(unix.SIGHUP)
	if len(f.started) != 3 {
		t.Fatalf("reload started %d new workers at once, want 1", len(f.started)-2)
	}
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("old worker signalled before its replacement is up: %v", s)
	}
	if !f.board.Get().Ready {
		t.Fatal("a reload must not take the pool out of readiness")
	}
	f.advance(time.Second) // new slot-0 worker up: old one stopped, slot 1 begins
	if s := f.takeSent(); !slices.Equal(s, []sent{{-old0, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want SIGTERM to group %d", s, old0)
	}
	if len(f.started) != 4 {
		t.Fatalf("slot 1's replacement not started")
	}
	f.exit(old0, 0, 0)
	f.advance(time.Second)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-old1, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want SIGTERM to group %d", s, old1)
	}
	if f.p.phase != health.PhaseRunning {
		t.Fatalf("state %q after the reload, want running", f.p.phase)
	}
	// A retired worker that ignores the stop is killed at the grace.
	f.advance(9 * time.Second)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-old1, unix.SIGKILL}}) {
		t.Fatalf("signals = %v, want SIGKILL to group %d", s, old1)
	}
	f.exit(old1, 0, unix.SIGKILL)
	if f.p.slots[1].restarts != 0 {
		t.Fatal("a retired worker's exit must not count as a restart")
	}
}

func TestPoolReloadWaitsForANewWorkerThatDies(t *testing.T) {
	f := newFake(t, 1, nil)
	f.advance(time.Second)
	old := f.slotPID(0)
	f.signal(unix.SIGHUP)
	f.takeSent()
	var delays []time.Duration
	for range 4 { // the new code crashes at start, again and again
		f.exit(f.p.slots[0].next.pid, 1, 0)
		died := f.now
		for f.p.slots[0].next == nil {
			f.advance(10 * time.Millisecond)
		}
		delays = append(delays, f.now.Sub(died))
		if f.slotPID(0) != old {
			t.Fatal("the old worker must keep serving")
		}
	}
	if !slices.IsSorted(delays) || delays[3] < 400*time.Millisecond {
		t.Fatalf("retry delays %v, want growing backoff", delays)
	}
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("old worker signalled while no replacement is up: %v", s)
	}
	if st := f.board.Get(); !st.Ready || !st.Live {
		t.Fatalf("the old worker serves: the pool stays live and ready, got %+v", st)
	}
}

// A reload's retry in one slot waits while an earlier slot is not up again:
// the pool sleeps meanwhile instead of waking for the retry again and again.
func TestPoolReloadRetryWaitsForAnEarlierSlot(t *testing.T) {
	f := newFake(t, 2, nil)
	f.advance(time.Second)
	f.signal(unix.SIGHUP)
	f.advance(time.Second)              // slot 0 reloaded; slot 1's new worker starts
	f.exit(f.p.slots[1].next.pid, 1, 0) // and dies at start: retried after a backoff
	f.exit(f.slotPID(0), 1, 0)          // slot 0's new worker dies: its restart is not up for 1 s
	f.advance(time.Second)              // fails here if Run would spin
	if f.p.slots[1].next == nil {
		t.Fatal("slot 1's new worker was not retried once slot 0 was up again")
	}
}

func TestPoolDrain(t *testing.T) {
	f := newFake(t, 2, func(c *Config) { c.DrainDelay = 1500 * time.Millisecond })
	f.advance(time.Second)
	pids := []int{f.slotPID(0), f.slotPID(1)}
	f.takeSent()
	f.signal(unix.SIGTERM)
	if st := f.board.Get(); st.Ready || st.State != "draining" {
		t.Fatalf("right after SIGTERM: %+v, want draining and not ready", st)
	}
	f.advance(1500*time.Millisecond - time.Millisecond)
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("workers signalled during the drain delay: %v", s)
	}
	f.advance(time.Millisecond)
	s := f.takeSent()
	if len(s) != 2 || !slices.Contains(s, sent{-pids[0], unix.SIGTERM}) || !slices.Contains(s, sent{-pids[1], unix.SIGTERM}) {
		t.Fatalf("signals = %v, want SIGTERM to both groups", s)
	}
	f.exit(pids[0], 0, 0)
	if f.p.done() || f.p.slots[0].cur != nil {
		t.Fatal("done too early, or a worker restarted during the drain")
	}
	f.exit(pids[1], 0, 0)
	if !f.p.done() || f.p.exitStatus() != 0 {
		t.Fatal("want done with status 0")
	}
}

func TestPoolDrainKillsAtGrace(t *testing.T) {
	// A grace that is no whole number of ticks: the pool must wake for it.
	f := newFake(t, 1, func(c *Config) { c.Grace = 2500 * time.Millisecond; c.StopSignal = unix.SIGINT })
	f.advance(time.Second)
	pid := f.slotPID(0)
	f.takeSent()
	f.signal(unix.SIGTERM)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-pid, unix.SIGINT}}) {
		t.Fatalf("signals = %v, want STOP_SIGNAL=SIGINT to the group", s)
	}
	f.advance(2499 * time.Millisecond)
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("signals = %v before the grace ended, want none", s)
	}
	f.advance(time.Millisecond)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-pid, unix.SIGKILL}}) {
		t.Fatalf("signals = %v, want SIGKILL to the group at the grace", s)
	}
	f.exit(pid, 0, unix.SIGKILL)
	if !f.p.done() || f.p.exitStatus() != 1 {
		t.Fatal("want done with status 1 after a kill")
	}
}

// A worker SIGKILLed before the grace and not reaped yet (a process in
// uninterruptible sleep dies only when it leaves it) leaves nothing to do at
// the grace: the pool does not wake for it again and again.
func TestPoolGraceWithEveryWorkerKilled(t *testing.T) {
	f := newFake(t, 1, func(c *Config) { c.Grace = 2 * time.Second })
	f.advance(time.Second)
	old := f.slotPID(0)
	f.signal(unix.SIGHUP)
	f.advance(time.Second) // the new worker is up: the old one is told to stop
	f.advance(2 * time.Second)
	if s := f.takeSent(); !slices.Contains(s, sent{-old, unix.SIGKILL}) {
		t.Fatalf("signals = %v, want the old worker killed at the grace", s)
	}
	f.signal(unix.SIGTERM)
	f.exit(f.slotPID(0), 0, 0)
	f.advance(3 * time.Second) // past the drain's grace: fails here if Run would spin
	if f.p.done() {
		t.Fatal("done while a worker is still there")
	}
	f.exit(old, 0, unix.SIGKILL)
	if !f.p.done() {
		t.Fatal("not done once every worker is gone")
	}
}

func TestPoolSecondStopSignalSkipsTheGrace(t *testing.T) {
	f := newFake(t, 1, func(c *Config) { c.DrainDelay = 5 * time.Second; c.Grace = 30 * time.Second })
	pid := f.slotPID(0)
	f.signal(unix.SIGTERM)
	f.takeSent()
	f.signal(unix.SIGINT)
	if s := f.takeSent(); !slices.Contains(s, sent{-pid, unix.SIGKILL}) {
		t.Fatalf("signals = %v, want SIGKILL at once", s)
	}
}

func TestPoolQuitIsAFastStop(t *testing.T) {
	f := newFake(t, 2, func(c *Config) { c.DrainDelay = 5 * time.Second })
	f.takeSent()
	f.signal(unix.SIGQUIT)
	s := f.takeSent()
	if len(s) != 2 || s[0].sig != unix.SIGQUIT || s[1].sig != unix.SIGQUIT {
		t.Fatalf("signals = %v, want SIGQUIT to both groups at once", s)
	}
}

func TestPoolForwardsToEveryWorker(t *testing.T) {
	f := newFake(t, 2, nil)
	f.advance(upAfter) // up: see TestPoolHoldsSignalsUntilUp for those that are not
	f.takeSent()
	for _, sig := range []unix.Signal{unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH} {
		f.signal(sig)
		s := f.takeSent()
		if len(s) != 2 || !slices.Contains(s, sent{f.slotPID(0), sig}) || !slices.Contains(s, sent{f.slotPID(1), sig}) {
			t.Fatalf("%v: signals = %v, want it sent to both workers", sig, s)
		}
	}
	for _, sig := range []unix.Signal{unix.SIGCHLD} {
		f.signal(sig)
		if s := f.takeSent(); len(s) != 0 {
			t.Fatalf("%v forwarded: %v", sig, s)
		}
	}
}

// A worker that is not up yet has not installed its handlers: what would be
// forwarded to it waits until it is up, then comes once per signal, in order.
func TestPoolHoldsSignalsUntilUp(t *testing.T) {
	f := newFake(t, 2, nil)
	f.advance(upAfter)
	old := f.slotPID(1)
	f.exit(old, 1, 0) // slot 1's worker dies after it was up: replaced at once
	f.advance(0)
	fresh := f.slotPID(1)
	if fresh == old || fresh == 0 {
		t.Fatalf("slot 1 not restarted: pid %d", fresh)
	}
	f.takeSent()
	for _, sig := range []unix.Signal{unix.SIGUSR1, unix.SIGUSR1, unix.SIGUSR2, unix.SIGUSR1} {
		f.signal(sig)
	}
	want := []sent{{f.slotPID(0), unix.SIGUSR1}, {f.slotPID(0), unix.SIGUSR1}, {f.slotPID(0), unix.SIGUSR2}, {f.slotPID(0), unix.SIGUSR1}}
	if s := f.takeSent(); !slices.Equal(s, want) {
		t.Fatalf("while slot 1 starts: signals = %v, want %v (the worker that is up only)", s, want)
	}
	f.notify(notifyMsg{pid: fresh, ready: true})
	if s, want := f.takeSent(), []sent{{fresh, unix.SIGUSR1}, {fresh, unix.SIGUSR2}}; !slices.Equal(s, want) {
		t.Fatalf("once up: signals = %v, want %v", s, want)
	}

	// A worker that dies before it is up takes what it held with it.
	f.exit(fresh, 1, 0)
	f.advance(time.Second)
	again := f.slotPID(1)
	f.signal(unix.SIGWINCH)
	f.takeSent()
	f.exit(again, 1, 0)
	f.advance(10 * time.Second)
	f.advance(upAfter)
	for _, x := range f.takeSent() {
		if x.sig == unix.SIGWINCH {
			t.Errorf("SIGWINCH held by a worker that died reached %d", x.pid)
		}
	}
}

// SIGTTIN adds workers up to MaxWorkers, and no more.
func TestPoolScaleUpStopsAtMax(t *testing.T) {
	f := newFake(t, MaxWorkers-1, nil)
	f.signal(unix.SIGTTIN)
	f.signal(unix.SIGTTIN)
	f.signal(unix.SIGTTIN)
	if n := f.p.active(); n != MaxWorkers {
		t.Fatalf("%d workers after 3 SIGTTIN from %d, want %d", n, MaxWorkers-1, MaxWorkers)
	}
	if n := len(f.started); n != MaxWorkers {
		t.Errorf("%d workers started, want %d", n, MaxWorkers)
	}
}

func TestPoolScale(t *testing.T) {
	f := newFake(t, 1, nil)
	f.advance(time.Second)
	f.signal(unix.SIGTTIN)
	f.signal(unix.SIGTTIN)
	if len(f.p.slots) != 3 || len(f.started) != 3 {
		t.Fatalf("slots %d, started %d, want 3 and 3", len(f.p.slots), len(f.started))
	}
	third := f.slotPID(2)
	f.takeSent()
	f.signal(unix.SIGTTOU)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-third, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want the highest slot stopped", s)
	}
	f.exit(third, 0, 0)
	if len(f.p.slots) != 2 || len(f.started) != 3 {
		t.Fatalf("after TTOU: slots %d, started %d, want 2 and no restart", len(f.p.slots), len(f.started))
	}
	f.signal(unix.SIGTTOU)
	f.signal(unix.SIGTTOU) // never fewer than one
	if f.p.active() != 1 {
		t.Fatalf("active %d, want 1", f.p.active())
	}
	if n := len(f.board.Get().Workers); n != 1 {
		t.Fatalf("/health lists %d workers, want 1", n)
	}
}

func TestPoolIgnoresOrphans(t *testing.T) {
	f := newFake(t, 1, nil)
	f.exit(99999, 0, 0)
	if len(f.started) != 1 {
		t.Fatal("an orphan's exit started a worker")
	}
}

func TestWorkerEnv(t *testing.T) {
	f := newFake(t, 1, func(c *Config) {
		c.Env = []string{"PATH=/bin", "LISTEN_PID=1", "LISTEN_FDS=7", "WORKER_ID=9", "NOTIFY_SOCKET=/x", "KEEP=1"}
	})
	f.p.notifyEnv = "NOTIFY_SOCKET=@abc"
	f.p.slots[0].fd = 7
	env := f.p.workerEnv(f.p.slots[0])
	want := []string{"PATH=/bin", "KEEP=1", "WORKER_ID=0", "LISTEN_FDS=1", "LISTEN_FDNAMES=pinit", "NOTIFY_SOCKET=@abc"}
	if !slices.Equal(env, want) {
		t.Fatalf("env = %q, want %q", env, want)
	}
}

func TestPoolWakesAtLeastEveryTick(t *testing.T) {
	f := newFake(t, 2, nil)
	f.advance(time.Minute) // up, idle: nothing pending
	if got := f.p.nextDeadline().Sub(f.now); got != tick {
		t.Fatalf("an idle pool sleeps %v, want one tick (%v)", got, tick)
	}
}

// A SIGCHLD that never arrives (os/signal drops signals when its channel is
// full) costs at most one tick: the timer reaps too.
func TestPoolReapsOnTheTickWithoutSIGCHLD(t *testing.T) {
	f := newFake(t, 1, nil)
	f.advance(2 * time.Second)
	old := f.slotPID(0)
	f.exits = append(f.exits, pid1.Exit{PID: old, Status: unix.WaitStatus(unix.SIGKILL)})
	f.advance(tick - time.Millisecond)
	if f.slotPID(0) != old {
		t.Fatal("replaced before anything told the pool")
	}
	f.advance(time.Millisecond)
	if f.slotPID(0) == old {
		t.Fatal("the exit was not reaped on the tick")
	}
}

// Run itself: the select, the timer and the end of a drain, with the exit
// found by the tick's reap (no SIGCHLD is sent).
func TestRunEndsWhenTheDrainIsOver(t *testing.T) {
	p := newPool(Config{Path: "/app", Argv: []string{"app"}, Workers: 1, Grace: time.Minute, StopSignal: unix.SIGTERM})
	p.bind = func(string) (int, error) { return -1, nil }
	if _, err := p.addSlot(); err != nil {
		t.Fatal(err)
	}
	exits := make(chan pid1.Exit, 1)
	p.start = func(pid1.Proc) (int, error) { return 42, nil }
	p.kill = func(pid int, sig os.Signal) error {
		if pid == -42 && sig == unix.SIGTERM {
			exits <- pid1.Exit{PID: 42}
		}
		return nil
	}
	p.reap = func(buf []pid1.Exit) []pid1.Exit {
		select {
		case e := <-exits:
			buf = append(buf, e)
		default:
		}
		return buf
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan int)
	go func() { done <- p.Run(sigs) }()
	sigs <- unix.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Run = %d, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the worker exited")
	}
}
