//go:build linux

package workers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
)

// withListen gives the pool slot sockets (fake fds) and WORKER_TIMEOUT.
func withListen(timeout time.Duration) func(*Config) {
	return func(c *Config) {
		c.Listen = ":8080"
		c.WorkerTimeout = timeout
	}
}

// program is the targets of the program attached last.
func (f *fakeWorld) program() []int {
	f.t.Helper()
	if len(f.programs) == 0 {
		f.t.Fatal("no steering program attached")
	}
	return f.programs[len(f.programs)-1]
}

func (f *fakeWorld) wantProgram(want ...int) {
	f.t.Helper()
	if got := f.program(); !slices.Equal(got, want) {
		f.t.Fatalf("steering to %v, want %v", got, want)
	}
}

func TestSteeringFollowsServingSlots(t *testing.T) {
	f := newFake(t, 3, withListen(0))
	f.wantProgram(0, 1, 2) // none up yet: every slot, as the kernel would
	f.advance(time.Second)
	f.wantProgram(0, 1, 2)
	attached := len(f.programs)
	f.advance(time.Minute)
	if len(f.programs) != attached {
		t.Fatalf("program re-attached %d times with nothing changed", len(f.programs)-attached)
	}
	if st := f.board.Get(); st.Steering != "bpf" {
		t.Fatalf("steering %q, want bpf", st.Steering)
	}

	f.exit(f.slotPID(1), 0, unix.SIGKILL) // replaced at once, but not up yet
	f.wantProgram(0, 2)
	f.advance(time.Second)
	f.wantProgram(0, 1, 2)

	// A crash-looping slot gets nothing until a worker of it is up.
	for range 4 {
		f.exit(f.slotPID(1), 1, 0)
		f.wantProgram(0, 2)
		f.untilStarted(1)
		f.wantProgram(0, 2)
	}
}

func TestSteeringAwayFromAStalledSlot(t *testing.T) {
	f := newFake(t, 2, withListen(0))
	f.advance(time.Second)
	fd := f.p.slots[1].fd
	f.queues[fd] = 3 // connections wait, and nobody takes them
	f.advance(stallAfter)
	if f.p.slots[1].stalled {
		t.Fatal("stalled before the queue stood still for stallAfter")
	}
	f.advance(2 * sampleEvery)
	f.wantProgram(0)
	if st := f.board.Get(); st.Workers[1].State != health.WorkerStalled || st.Workers[1].Queue != 3 {
		t.Fatalf("/health shows %+v, want slot 1 stalled with 3 queued", st.Workers[1])
	}
	if !f.board.Get().Ready {
		t.Fatal("a stalled worker takes nothing from readiness: the others serve")
	}
	f.queues[fd] = 0 // it takes them again
	f.advance(sampleEvery)
	f.wantProgram(0, 1)
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("WORKER_TIMEOUT=0 killed nothing, but signals = %v", s)
	}
}

func TestBusyButTakingIsNotStalled(t *testing.T) {
	f := newFake(t, 1, withListen(2*time.Second))
	f.advance(time.Second)
	fd := f.p.slots[0].fd
	pid := f.slotPID(0)
	for i := range 200 { // 50 s: a queue that is never empty, but taken from
		f.queues[fd] = 5 + i%2
		f.advance(sampleEvery)
		if f.p.slots[0].stalled {
			t.Fatalf("sample %d: a slot whose queue shrinks is stalled", i)
		}
	}
	if f.slotPID(0) != pid || len(f.takeSent()) != 0 {
		t.Fatal("a worker that takes its queue was signalled")
	}
}

func TestWorkerTimeoutKillsAHungWorker(t *testing.T) {
	f := newFake(t, 2, withListen(3*time.Second))
	f.advance(time.Second)
	hung := f.slotPID(0)
	f.queues[f.p.slots[0].fd] = 4
	f.takeSent()
	var abortAt time.Time
	for range 100 {
		f.advance(sampleEvery)
		if s := f.takeSent(); len(s) > 0 {
			if !slices.Equal(s, []sent{{hung, unix.SIGABRT}}) {
				t.Fatalf("signals = %v, want SIGABRT to %d", s, hung)
			}
			abortAt = f.now
			break
		}
	}
	stalledAt := f.p.slots[0].busySince
	if d := abortAt.Sub(stalledAt); d < 3*time.Second || d > 3*time.Second+sampleEvery {
		t.Fatalf("SIGABRT %v after the queue stood still, want WORKER_TIMEOUT (3s)", d)
	}
	f.advance(abortGrace)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-hung, unix.SIGKILL}}) {
		t.Fatalf("signals = %v, want SIGKILL to group %d a moment later", s, hung)
	}
	f.exit(hung, 0, unix.SIGKILL)
	if f.slotPID(0) == hung {
		t.Fatal("the hung worker was not replaced")
	}
	f.queues[f.p.slots[0].fd] = 0 // the replacement takes what waited
	f.advance(time.Second)
	f.wantProgram(0, 1)
}

func TestIdleWorkersAreNeverTimedOut(t *testing.T) {
	f := newFake(t, 2, withListen(2*time.Second))
	f.advance(time.Second)
	f.takeSent()
	f.advance(10 * time.Minute)
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("idle workers signalled: %v", s)
	}
}

func TestWatchdog(t *testing.T) {
	f := newFake(t, 1, func(c *Config) { c.WorkerTimeout = 2 * time.Second })
	pid := f.slotPID(0)
	f.advance(time.Minute) // never pinged: not held to it
	f.notify(notifyMsg{pid: pid, ready: true, watchdog: true})
	for range 20 {
		f.advance(1500 * time.Millisecond)
		f.notify(notifyMsg{pid: pid, watchdog: true})
	}
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("a worker that pings in time was signalled: %v", s)
	}
	f.advance(2*time.Second - time.Millisecond)
	f.advance(time.Millisecond)
	if s := f.takeSent(); !slices.Equal(s, []sent{{pid, unix.SIGABRT}}) {
		t.Fatalf("signals = %v, want SIGABRT at WORKER_TIMEOUT after the last WATCHDOG=1", s)
	}
}

// A worker told to stop is bounded by the grace, not the watchdog: one that
// pings no more while it finishes its requests is neither aborted nor a
// deadline the pool wakes up for again and again.
func TestWatchdogSparesAStoppingWorker(t *testing.T) {
	for _, how := range []string{"reload", "drain"} {
		t.Run(how, func(t *testing.T) {
			f := newFake(t, 1, func(c *Config) {
				c.WorkerTimeout = 2 * time.Second
				c.Grace = 30 * time.Second
				c.DrainDelay = 10 * time.Second
			})
			old := f.slotPID(0)
			f.notify(notifyMsg{pid: old, ready: true, watchdog: true})
			f.takeSent()
			if how == "reload" {
				f.signal(unix.SIGHUP)
				f.notify(notifyMsg{pid: f.p.slots[0].next.pid, ready: true})
				if s := f.takeSent(); !slices.Equal(s, []sent{{-old, unix.SIGTERM}}) {
					t.Fatalf("signals = %v, want the old worker told to stop", s)
				}
			} else {
				f.signal(unix.SIGTERM) // it serves on for DRAIN_DELAY
			}
			f.advance(5 * time.Second) // its WATCHDOG=1 is 5 s old: fails here if Run would spin
			if s := f.takeSent(); len(s) != 0 {
				t.Fatalf("signals = %v, want none: the grace bounds a stopping worker", s)
			}
		})
	}
}

// A drain that begins between a timeout's SIGABRT and its SIGKILL does not
// put the SIGKILL off until the grace.
func TestTimedOutWorkerIsKilledDuringADrain(t *testing.T) {
	f := newFake(t, 1, func(c *Config) { c.WorkerTimeout = 2 * time.Second; c.Grace = 30 * time.Second })
	pid := f.slotPID(0)
	f.notify(notifyMsg{pid: pid, ready: true, watchdog: true})
	f.advance(2 * time.Second)
	if s := f.takeSent(); !slices.Equal(s, []sent{{pid, unix.SIGABRT}}) {
		t.Fatalf("signals = %v, want SIGABRT", s)
	}
	f.signal(unix.SIGTERM)
	f.takeSent()
	f.advance(abortGrace) // fails here if Run would spin
	if s := f.takeSent(); !slices.Equal(s, []sent{{-pid, unix.SIGKILL}}) {
		t.Fatalf("signals = %v, want SIGKILL to the group abortGrace after SIGABRT", s)
	}
}

func TestScaleDownWaitsForTheQueue(t *testing.T) {
	f := newFake(t, 3, withListen(0))
	f.advance(time.Second)
	third := f.slotPID(2)
	fd := f.p.slots[2].fd
	f.queues[fd] = 2
	f.takeSent()
	f.signal(unix.SIGTTOU)
	f.wantProgram(0, 1) // steered away at once
	f.advance(time.Second)
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("worker stopped with connections waiting for it: %v", s)
	}
	f.queues[fd] = 0
	f.advance(sampleEvery)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-third, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want STOP_SIGNAL once its queue is empty", s)
	}
	if len(f.left) != 0 {
		t.Fatal("the socket left the group while its worker still runs")
	}
	f.exit(third, 0, 0)
	if !slices.Equal(f.left, []int{fd}) || len(f.p.slots) != 2 {
		t.Fatalf("left %v, slots %d: want the slot's socket shut down and the slot gone", f.left, len(f.p.slots))
	}
}

func TestScaleDownIsBoundedByTheGrace(t *testing.T) {
	f := newFake(t, 2, withListen(0))
	f.advance(time.Second)
	second := f.slotPID(1)
	f.queues[f.p.slots[1].fd] = 1 // never taken
	f.takeSent()
	f.signal(unix.SIGTTOU)
	f.advance(9*time.Second - time.Millisecond)
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("signals = %v before the grace", s)
	}
	f.advance(time.Millisecond)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-second, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want STOP_SIGNAL at the grace", s)
	}
}

// The kernel moves the last socket of the group into the index of one that
// leaves: the program must follow it.
func TestSteeringFollowsTheGroupNumbering(t *testing.T) {
	f := newFake(t, 3, withListen(0))
	f.advance(time.Second)
	s1, s2 := f.p.slots[1], f.p.slots[2]
	f.signal(unix.SIGTTOU) // slot 2 goes, but its worker is slow to stop
	f.signal(unix.SIGTTOU) // then slot 1
	f.wantProgram(0)
	f.advance(time.Second)
	f.exit(s1.cur.pid, 0, 0) // slot 1 is gone first: slot 2's socket moves to index 1
	if i, _ := f.p.group.index(s2); i != 1 {
		t.Fatalf("slot 2's socket at %d, want 1", i)
	}
	f.signal(unix.SIGTTIN) // slot 1 back, on a new socket at the end: index 2
	f.advance(time.Second)
	f.wantProgram(0, 2)
}

// When a socket leaves, the kernel moves the last one into its index at
// once: the program attached at that moment must not target the last index,
// which is then past the end (the kernel would hash over every socket).
func TestSteeringNeverPastTheEndAtALeave(t *testing.T) {
	f := newFake(t, 3, withListen(0))
	f.advance(time.Second)
	s1, s2 := f.p.slots[1], f.p.slots[2]
	f.signal(unix.SIGTTOU) // slot 2 goes, but its worker is slow to stop
	f.signal(unix.SIGTTOU) // then slot 1
	f.advance(time.Second)
	f.exit(s1.cur.pid, 0, 0) // slot 1 is gone first: slot 2's socket moves to index 1
	f.signal(unix.SIGTTIN)   // slot 1 back, on a new socket at index 2
	f.advance(time.Second)
	f.wantProgram(0, 2)
	var atLeave []int
	f.p.closeFD = func(fd int, leave bool) {
		if leave && fd == s2.fd {
			atLeave = f.program()
		}
	}
	f.exit(s2.cur.pid, 0, 0) // slot 2 leaves index 1; slot 1 moves there
	if atLeave == nil || slices.Contains(atLeave, 2) {
		t.Fatalf("program %v when slot 2's socket left, want one without index 2", atLeave)
	}
	f.wantProgram(0, 1)
}

func TestSteeringRefusedFallsBackToTheKernel(t *testing.T) {
	f := newFakeSteering(t, 2, withListen(2*time.Second), fmt.Errorf("attach: %w", unix.EPERM))
	f.advance(time.Second)
	if st := f.board.Get(); st.Steering != "kernel" || !st.Ready {
		t.Fatalf("%+v: want steering kernel, and a pool that serves as before", st)
	}
	// Hung workers are still found and killed.
	hung := f.slotPID(1)
	f.queues[f.p.slots[1].fd] = 2
	f.takeSent()
	f.readCPU(hung, 3*time.Second, quiet) // no steering: only a worker using no CPU is hung
	if s := f.takeSent(); !slices.Contains(s, sent{hung, unix.SIGABRT}) {
		t.Fatalf("signals = %v, want SIGABRT to the hung worker", s)
	}
	// Scale down as before: the socket goes at once, and so does the worker.
	f.signal(unix.SIGTTIN)
	f.advance(time.Second)
	last := f.slotPID(2)
	f.signal(unix.SIGTTOU)
	if s := f.takeSent(); !slices.Contains(s, sent{-last, unix.SIGTERM}) {
		t.Fatalf("signals = %v, want the removed worker stopped at once", s)
	}
}

// A queue that holds connections at two samples in a row, none taken, is
// steered away from at once; a worker that then empties it serves again.
func TestSteeringIsolatesASuspectSlot(t *testing.T) {
	f := newFake(t, 2, withListen(0))
	f.advance(time.Second)
	fd := f.p.slots[1].fd
	f.queues[fd] = 3
	f.advance(2 * sampleEvery)
	f.wantProgram(0)
	if f.p.slots[1].stalled {
		t.Fatal("stalled at the first sign: want suspect only")
	}
	f.queues[fd] = 0
	f.advance(sampleEvery)
	f.wantProgram(0, 1)
	if n := len(f.p.cfg.Board.Get().Workers); n != 2 {
		t.Fatalf("%d workers", n)
	}
}

// When no slot serves, connections go to the fittest: a running worker whose
// queue is suspect rather than a replacement that is still starting.
func TestSteeringFallsBackToTheFittest(t *testing.T) {
	f := newFake(t, 2, withListen(0))
	f.advance(time.Second)
	f.exit(f.slotPID(0), 0, unix.SIGKILL) // its replacement starts
	f.queues[f.p.slots[1].fd] = 3
	f.advance(2 * sampleEvery)
	f.wantProgram(1)
}

// With nowhere to steer to (WORKERS=1), a queue that never shrinks may be a
// steady backlog in front of a busy worker: only a worker whose process tree
// uses no CPU is taken for hung.
func TestSingleWorkerBusyOrHung(t *testing.T) {
	f := newFake(t, 1, withListen(3*time.Second))
	f.advance(time.Second)
	pid := f.slotPID(0)
	f.queues[f.p.slots[0].fd] = 7
	f.takeSent()
	f.readCPU(pid, time.Minute, func(i int) float64 { return float64(i) }) // busy
	if s := f.takeSent(); len(s) != 0 || f.p.slots[0].stalled {
		t.Fatalf("a busy worker with a steady backlog: signals %v, stalled %v", s, f.p.slots[0].stalled)
	}
	f.readCPU(pid, 4*time.Second, quiet) // stopped: stalled a reading later, timed out 3 s on
	if s := f.takeSent(); len(s) == 0 || s[0] != (sent{pid, unix.SIGABRT}) {
		t.Fatalf("signals = %v, want SIGABRT to the worker that uses no CPU", s)
	}
}

// A worker that speaks sd_notify but never says READY=1 would keep its slot
// out of /ready, or a reload waiting, for ever: WORKER_TIMEOUT ends it.
func TestNeverReadyIsTimedOut(t *testing.T) {
	f := newFake(t, 1, func(c *Config) { c.WorkerTimeout = 5 * time.Second })
	pid := f.slotPID(0)
	f.notify(notifyMsg{pid: pid}) // STATUS=...: a speaker, up only on READY=1
	f.takeSent()
	f.advance(5*time.Second - time.Millisecond)
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("signals %v before WORKER_TIMEOUT", s)
	}
	f.advance(time.Millisecond)
	if s := f.takeSent(); !slices.Equal(s, []sent{{pid, unix.SIGABRT}}) {
		t.Fatalf("signals = %v, want SIGABRT at WORKER_TIMEOUT", s)
	}
}
