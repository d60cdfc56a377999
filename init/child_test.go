//go:build linux

package pid1

import (
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
)

// fakeChild drives Child.Wait with no process and no clock: the test sends
// signals, queues what the next Reap collects, fires the grace timer, and
// sees every kill and every timer Wait asks for.
type fakeChild struct {
	t       *testing.T
	child   *Child
	sigs    chan os.Signal
	exits   chan []Exit // what the next Reap calls collect, one batch per call
	kills   chan kill
	afters  chan time.Duration
	grace   chan time.Time
	tick    chan time.Time
	result  chan int
	killErr func(kill) error

	mu     sync.Mutex
	states []health.Phase
}

type kill struct {
	pid int
	sig os.Signal
}

const (
	childPID   = 4242
	childGrace = 7 * time.Second
	// fakeWait bounds each wait for something Wait does: it is immediate in
	// a working Child, so this only delays a failing test.
	fakeWait = 5 * time.Second
)

func startFakeChild(t *testing.T) *fakeChild {
	t.Helper()
	f := &fakeChild{
		t:      t,
		sigs:   make(chan os.Signal, 16),
		exits:  make(chan []Exit, 16),
		kills:  make(chan kill, 64),
		afters: make(chan time.Duration, 16),
		grace:  make(chan time.Time, 1),
		tick:   make(chan time.Time),
		result: make(chan int, 1),
	}
	f.child = &Child{
		PID:     childPID,
		Grace:   childGrace,
		Signals: f.sigs,
		Reap: func(buf []Exit) []Exit {
			select {
			case batch := <-f.exits:
				return append(buf, batch...)
			default:
				return buf
			}
		},
		Kill: func(pid int, sig os.Signal) error {
			k := kill{pid, sig}
			f.kills <- k
			if f.killErr != nil {
				return f.killErr(k)
			}
			return nil
		},
		After: func(d time.Duration) <-chan time.Time {
			f.afters <- d
			return f.grace
		},
		Tick: f.tick,
		OnState: func(s health.Phase) {
			f.mu.Lock()
			f.states = append(f.states, s)
			f.mu.Unlock()
		},
	}
	return f
}

func (f *fakeChild) run() {
	done := make(chan struct{})
	go func() {
		f.result <- f.child.Wait()
		close(done)
	}()
	f.t.Cleanup(func() {
		select {
		case <-done:
		default:
			// Wait is still running: end it so the goroutine does not leak.
			f.exits <- []Exit{{PID: childPID, Status: exited(0)}}
			f.sigs <- unix.SIGCHLD
			<-done
		}
	})
}

// expectKill waits for Wait's next kill and checks it.
func (f *fakeChild) expectKill(pid int, sig os.Signal) {
	f.t.Helper()
	select {
	case k := <-f.kills:
		if k.pid != pid || k.sig != sig {
			f.t.Fatalf("kill(%d, %v), want kill(%d, %v)", k.pid, SignalName(k.sig), pid, SignalName(sig))
		}
	case <-time.After(fakeWait):
		f.t.Fatalf("no kill(%d, %v) within %s", pid, SignalName(sig), fakeWait)
	}
}

// sync makes sure Wait has finished handling everything sent before: it
// sends SIGUSR2 and waits until it is forwarded. Wait handles its channel in
// order, so after this every earlier signal has had all its effects.
func (f *fakeChild) sync() {
	f.t.Helper()
	f.sigs <- unix.SIGUSR2
	f.expectKill(childPID, unix.SIGUSR2)
}

// noMoreKills checks that Wait has killed nothing else so far.
func (f *fakeChild) noMoreKills() {
	f.t.Helper()
	f.sync()
	select {
	case k := <-f.kills:
		f.t.Fatalf("unexpected kill(%d, %v)", k.pid, SignalName(k.sig))
	default:
	}
}

func (f *fakeChild) noTimer() {
	f.t.Helper()
	select {
	case d := <-f.afters:
		f.t.Fatalf("unexpected timer of %s", d)
	default:
	}
}

// exit makes the reaper collect batch on the next SIGCHLD.
func (f *fakeChild) exit(batch ...Exit) {
	f.exits <- batch
	f.sigs <- unix.SIGCHLD
}

func (f *fakeChild) wantResult(want int) {
	f.t.Helper()
	select {
	case got := <-f.result:
		if got != want {
			f.t.Fatalf("Wait() = %d, want %d", got, want)
		}
	case <-time.After(fakeWait):
		f.t.Fatalf("Wait did not return within %s", fakeWait)
	}
}

func (f *fakeChild) stillWaiting() {
	f.t.Helper()
	f.sync()
	select {
	case got := <-f.result:
		f.t.Fatalf("Wait() returned %d while the child is still running", got)
	default:
	}
}

func (f *fakeChild) statesSeen() []health.Phase {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.states)
}

func TestChildForwardsSignals(t *testing.T) {
	f := startFakeChild(t)
	f.run()
	for _, sig := range []unix.Signal{
		unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
		unix.SIGTTIN, unix.SIGTTOU, unix.SIGCONT, unix.SIGALRM, unix.SIGTSTP,
		unix.SIGABRT, unix.SIGPWR, unix.Signal(34), unix.Signal(37), unix.Signal(64),
		// pinit's own failing writes raise no SIGPIPE that is delivered:
		// one that arrives was sent.
		unix.SIGPIPE,
	} {
		f.sigs <- sig
		f.expectKill(childPID, sig)
	}
	f.noTimer() // none of these is a stop signal
	f.exit(Exit{PID: childPID, Status: exited(3)})
	f.wantResult(3)
	if got := f.statesSeen(); !slices.Equal(got, []health.Phase{health.PhaseExited}) {
		t.Errorf("states %q, want [exited]", got)
	}
}

// TestChildNeverForwardsSIGCHLD: SIGCHLD is about pinit's own children; tini
// never forwards it either.
func TestChildNeverForwardsSIGCHLD(t *testing.T) {
	if Forwardable(unix.SIGCHLD) {
		t.Errorf("Forwardable(SIGCHLD) = true")
	}
	f := startFakeChild(t)
	f.run()
	for range 3 {
		f.sigs <- unix.SIGCHLD
	}
	// The first kill must be this one: nothing before it was forwarded.
	f.sigs <- unix.SIGUSR1
	f.expectKill(childPID, unix.SIGUSR1)
	f.noMoreKills()
	f.stillWaiting()
}

func TestForwardableHandled(t *testing.T) {
	sigs := handled()
	for _, s := range sigs {
		switch s {
		case unix.SIGKILL, unix.SIGSTOP:
			t.Errorf("handled() lists %v, which no process can catch", SignalName(s))
		case unix.SIGURG, unix.SIGPROF:
			t.Errorf("handled() lists %v, which the Go runtime keeps", SignalName(s))
		}
		// The contract: every signal pinit handles but SIGCHLD is forwarded.
		if want := s != unix.SIGCHLD; Forwardable(s) != want {
			t.Errorf("Forwardable(%v) = %v, want %v", SignalName(s), !want, want)
		}
	}
	for _, s := range []unix.Signal{unix.SIGURG, unix.SIGPROF} {
		if Forwardable(s) {
			t.Errorf("Forwardable(%v) = true: the Go runtime sends it itself", SignalName(s))
		}
	}
	// Every other signal from 1 to 64 is caught: SIGCHLD included (the
	// reaper runs on it), the realtime ones too.
	if len(sigs) != 60 {
		t.Errorf("handled() lists %d signals, want 60 (1..64 but SIGKILL, SIGSTOP, SIGURG, SIGPROF)", len(sigs))
	}
	for _, want := range []unix.Signal{unix.SIGCHLD, unix.SIGTERM, unix.SIGWINCH, unix.SIGPIPE, unix.Signal(34), unix.Signal(64)} {
		if !slices.Contains(sigs, os.Signal(want)) {
			t.Errorf("handled() lacks %v", SignalName(want))
		}
	}
}

func TestChildGrace(t *testing.T) {
	for _, first := range []unix.Signal{unix.SIGTERM, unix.SIGINT} {
		t.Run(SignalName(first), func(t *testing.T) {
			f := startFakeChild(t)
			f.run()
			f.sigs <- first
			f.expectKill(childPID, first) // forwarded first: the child may stop by itself
			select {
			case d := <-f.afters:
				if d != childGrace {
					t.Fatalf("grace timer of %s, want %s", d, childGrace)
				}
			case <-time.After(fakeWait):
				t.Fatalf("no grace timer after %v", SignalName(first))
			}
			// More stop signals are forwarded but do not restart the grace:
			// it counts from the first one.
			for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGTERM} {
				f.sigs <- sig
				f.expectKill(childPID, sig)
			}
			f.noMoreKills()
			f.noTimer()
			f.stillWaiting()

			f.grace <- time.Now()
			got := map[kill]bool{}
			for range 2 {
				select {
				case k := <-f.kills:
					got[k] = true
				case <-time.After(fakeWait):
					t.Fatalf("after the grace, kills %v; want SIGKILL to the group and the child", got)
				}
			}
			for _, want := range []kill{{-childPID, unix.SIGKILL}, {childPID, unix.SIGKILL}} {
				if !got[want] {
					t.Errorf("after the grace, no kill(%d, SIGKILL); got %v", want.pid, got)
				}
			}
			f.exit(Exit{PID: childPID, Status: signaled(unix.SIGKILL)})
			f.wantResult(137)
			if got := f.statesSeen(); !slices.Equal(got, []health.Phase{health.PhaseStopping, health.PhaseExited}) {
				t.Errorf("states %q, want [stopping exited]", got)
			}
		})
	}
}

func TestChildStopsInTime(t *testing.T) {
	// The child ends on SIGTERM: its status, and nothing is killed.
	f := startFakeChild(t)
	f.run()
	f.sigs <- unix.SIGTERM
	f.expectKill(childPID, unix.SIGTERM)
	f.exit(Exit{PID: childPID, Status: signaled(unix.SIGTERM)})
	f.wantResult(143)
	select {
	case k := <-f.kills:
		t.Errorf("unexpected kill(%d, %v) after the child exited", k.pid, SignalName(k.sig))
	default:
	}
}

func TestChildReapsOrphans(t *testing.T) {
	f := startFakeChild(t)
	f.run()
	// Orphans exit, alone or many at once (SIGCHLD coalesces): Wait goes on.
	f.exit(Exit{PID: 100, Status: exited(1)})
	f.stillWaiting()
	f.exit(Exit{PID: 101, Status: signaled(unix.SIGKILL)}, Exit{PID: 102, Status: exited(0)})
	f.stillWaiting()
	f.sigs <- unix.SIGCHLD // nothing to reap
	f.stillWaiting()
	// The child's exit arrives in one batch with orphans: its status wins,
	// whatever the orphans' are.
	f.exit(Exit{PID: 103, Status: exited(9)}, Exit{PID: childPID, Status: exited(5)}, Exit{PID: 104, Status: exited(7)})
	f.wantResult(5)
}

// TestChildReapsOnTick: os/signal drops signals when the channel is full,
// SIGCHLD among them. Wait reaps on its tick too, so the child's exit is
// noticed without one.
func TestChildReapsOnTick(t *testing.T) {
	f := startFakeChild(t)
	f.run()
	f.tick <- time.Now() // nothing to reap
	f.stillWaiting()
	f.exits <- []Exit{{PID: 100, Status: exited(0)}, {PID: childPID, Status: exited(6)}}
	f.tick <- time.Now()
	f.wantResult(6)
}

func TestChildGoneWhileForwarding(t *testing.T) {
	// ESRCH: the child exited between the signal and the kill; its exit is
	// on its way and Wait must still report it.
	f := startFakeChild(t)
	f.killErr = func(kill) error { return unix.ESRCH }
	f.run()
	f.sigs <- unix.SIGHUP
	f.expectKill(childPID, unix.SIGHUP)
	f.stillWaiting()
	f.exit(Exit{PID: childPID, Status: exited(0)})
	f.wantResult(0)
}

func TestSignalName(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		want string
	}{
		{unix.SIGTERM, "SIGTERM"},
		{unix.SIGWINCH, "SIGWINCH"},
		{os.Interrupt, "SIGINT"},
	} {
		if got := SignalName(tc.sig); got != tc.want {
			t.Errorf("SignalName(%v) = %q, want %q", tc.sig, got, tc.want)
		}
	}
}
