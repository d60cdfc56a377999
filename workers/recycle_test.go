//go:build linux

package workers

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
)

// measure hands the pool a /proc reading: rss by pid.
func (f *fakeWorld) measure(rss map[int]int64) {
	u := map[int]health.Usage{}
	for pid, n := range rss {
		u[pid] = health.Usage{RSS: n}
	}
	f.handle(event{usage: u})
}

// readCPU advances d in steps of memoryEvery, handing the pool at each a
// /proc reading of pid: its CPU time, cpu(step).
func (f *fakeWorld) readCPU(pid int, d time.Duration, cpu func(step int) float64) {
	for i := 0; d > 0; i++ {
		f.handle(event{usage: map[int]health.Usage{pid: {RSS: 1, CPU: cpu(i)}}})
		f.advance(min(d, memoryEvery))
		d -= memoryEvery
	}
}

func quiet(int) float64 { return 1.5 }

func TestRecycleByMemoryOneSlotAtATime(t *testing.T) {
	f := newFake(t, 2, func(c *Config) { c.MaxMemory = 100 })
	f.advance(time.Second)
	old0, old1 := f.slotPID(0), f.slotPID(1)
	f.takeSent()
	f.measure(map[int]int64{old0: 150, old1: 101})
	if len(f.started) != 3 {
		t.Fatalf("started %d workers, want one replacement at a time", len(f.started)-2)
	}
	if s := f.takeSent(); len(s) != 0 {
		t.Fatalf("old worker signalled before its replacement is up: %v", s)
	}
	if !f.board.Get().Ready {
		t.Fatal("recycling takes nothing from readiness")
	}
	f.advance(time.Second) // the replacement is up: the old one goes, the next slot begins
	if s := f.takeSent(); !slices.Equal(s, []sent{{-old0, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want STOP_SIGNAL to %d", s, old0)
	}
	if len(f.started) != 4 {
		t.Fatal("slot 1 not recycled after slot 0")
	}
	f.exit(old0, 0, 0)
	f.advance(time.Second)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-old1, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want STOP_SIGNAL to %d", s, old1)
	}
	f.exit(old1, 0, 0)
	st := f.board.Get()
	if st.Workers[0].Recycles.Memory != 1 || st.Workers[1].Recycles.Memory != 1 || st.Workers[0].Restarts != 0 {
		t.Fatalf("/health %+v: want one memory recycle per slot and no restart", st.Workers)
	}
	f.measure(map[int]int64{f.slotPID(0): 99})
	if len(f.started) != 4 {
		t.Fatal("a worker under the limit was recycled")
	}
}

func TestRecycleByLifetimeWithJitter(t *testing.T) {
	// Lifetime 10 s, jitter 4 s: the fake jitter is half of it, 2 s.
	f := newFake(t, 1, func(c *Config) { c.MaxLifetime = 10 * time.Second; c.LifetimeJitter = 4 * time.Second })
	old := f.slotPID(0)
	f.advance(12*time.Second - time.Millisecond)
	if len(f.started) != 1 {
		t.Fatal("recycled before its lifetime and jitter")
	}
	f.advance(time.Millisecond)
	if len(f.started) != 2 {
		t.Fatal("not recycled at its lifetime and jitter")
	}
	f.advance(time.Second)
	if s := f.takeSent(); !slices.Equal(s, []sent{{-old, unix.SIGTERM}}) {
		t.Fatalf("signals = %v, want STOP_SIGNAL once the replacement is up", s)
	}
	if n := f.board.Get().Workers[0].Recycles.Lifetime; n != 1 {
		t.Fatalf("lifetime recycles %d, want 1", n)
	}
}

func TestNoRecycleWhileDraining(t *testing.T) {
	f := newFake(t, 1, func(c *Config) { c.MaxMemory = 100; c.DrainDelay = 5 * time.Second })
	f.advance(time.Second)
	f.signal(unix.SIGTERM)
	f.measure(map[int]int64{f.slotPID(0): 1000})
	if len(f.started) != 1 {
		t.Fatal("recycled during a drain")
	}
}

func TestReloadAndTimeoutAreCounted(t *testing.T) {
	f := newFake(t, 1, withListen(2*time.Second))
	f.advance(time.Second)
	f.signal(unix.SIGHUP)
	f.advance(time.Second)
	st := f.board.Get()
	if st.Reloads != 1 || st.Workers[0].Recycles.Reload != 1 {
		t.Fatalf("%+v: want 1 reload counted", st)
	}
	f.queues[f.p.slots[0].fd] = 2
	hung := f.slotPID(0)
	f.readCPU(hung, 5*time.Second, quiet) // WORKERS=1: only a worker using no CPU is hung
	f.exit(hung, 0, unix.SIGKILL)
	st = f.board.Get()
	if st.Workers[0].Recycles.Timeout != 1 || st.Workers[0].Restarts != 0 {
		t.Fatalf("%+v: want 1 timeout recycle and no restart", st.Workers[0])
	}
}
