package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One probe in flight, its verdict shared by every request that waits and reused for probeCache.
func TestSharedProbeOneInFlight(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	fail := errors.New("GET http://app/healthz: 500 Internal Server Error")
	var now atomic.Int64 // nanoseconds past clock
	p := &sharedProbe{
		run: func(ctx context.Context) error {
			calls.Add(1)
			if _, ok := ctx.Deadline(); !ok {
				t.Error("probe context has no deadline")
			}
			<-release
			return fail
		},
		base: context.Background(),
		now:  func() time.Time { return clock.Add(time.Duration(now.Load())) },
	}
	const waiters = 20
	errs := make(chan error, waiters)
	for range waiters {
		go func() { errs <- p.check(context.Background()) }()
	}
	waitFor(t, "the probe is in flight", func() bool { return calls.Load() == 1 })
	close(release)
	for range waiters {
		if err := <-errs; err != fail {
			t.Errorf("check = %v, want %v", err, fail)
		}
	}
	// Whether a waiter joined the probe in flight or came after it ended, the clock has not moved: one probe.
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d probes for %d requests at once, want 1", n, waiters)
	}
	now.Store(int64(probeCache - time.Millisecond))
	if err := p.check(context.Background()); err != fail || calls.Load() != 1 {
		t.Errorf("within probeCache: check = %v after %d probes, want the cached verdict and no new probe", err, calls.Load())
	}
	// Past probeCache: a new probe, and meanwhile the last verdict at once.
	now.Store(int64(probeCache))
	release = make(chan struct{})
	if err := p.check(context.Background()); err != fail {
		t.Errorf("after probeCache: check = %v, want the last verdict while the new probe runs", err)
	}
	waitFor(t, "a second probe", func() bool { return calls.Load() == 2 })
	if err := p.check(context.Background()); err != fail || calls.Load() != 2 {
		t.Errorf("while the second probe runs: check = %v after %d probes, want the last verdict and no third", err, calls.Load())
	}
	close(release)
	p.wait()

	// A verdict older than probeCache+probeTimeout is no answer: wait for a new one.
	now.Store(int64(3*probeCache + 2*probeTimeout))
	release = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- p.check(context.Background()) }()
	waitFor(t, "a third probe", func() bool { return calls.Load() == 3 })
	select {
	case err := <-done:
		t.Fatalf("check = %v before the probe ended, want it to wait for the probe", err)
	default:
	}
	close(release)
	if err := <-done; err != fail {
		t.Errorf("check = %v, want the new verdict", err)
	}
	p.wait()
}

// A request whose connection is evicted stops waiting at once; the probe goes on for the others.
func TestSharedProbeWaiterGivesUp(t *testing.T) {
	release := make(chan struct{})
	p := &sharedProbe{
		run:  func(ctx context.Context) error { <-release; return nil },
		base: context.Background(),
		now:  time.Now,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.check(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("check after its context ended = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("check still waits for the probe after its context ended")
	}
	close(release)
	if err := p.check(context.Background()); err != nil {
		t.Errorf("check after the probe = %v, want nil", err)
	}
	p.wait()
}

// floodServer is a health server with maxConns connections for the tests below, with readyURL as READY_URL ("":
// none), and counting its calls of debug.FreeOSMemory.
func floodServer(t *testing.T, maxConns int, readyURL string, tune func(*limits)) (*Server, *atomic.Int32) {
	t.Helper()
	s, err := Listen(Options{Addr: "127.0.0.1:0", ReadyURL: readyURL, Logger: quietLogger()},
		boardWith(Status{State: PhaseRunning, Live: true, Ready: true}))
	if err != nil {
		t.Fatal(err)
	}
	s.lim.maxConns = maxConns
	s.lim.headTimeout = time.Minute // no help from the timeouts: eviction alone must do it
	s.lim.linger = time.Minute
	if tune != nil {
		tune(&s.lim)
	}
	var freed atomic.Int32
	s.free = func() { freed.Add(1) }
	s.Serve()
	t.Cleanup(func() { s.Close() })
	return s, &freed
}

// holder connects to addr, sends a whole request for path, and never reads.
func holder(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: pinit\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return c
}

// Clients that send a whole request and never read (nor close) have had their answer: their connections make room
// for a health check.
func TestServerHoldersDoNotLockOut(t *testing.T) {
	t.Parallel()
	const slots = 8
	s, _ := floodServer(t, slots, "", nil)
	addr := s.Addr().String()
	for range slots {
		holder(t, addr, "/health")
	}
	waitFor(t, "every slot held by a client that has its answer", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, st := range s.conns {
			if st.phase == phaseLinger && !st.evicted {
				n++
			}
		}
		return n == slots
	})
	for range 3 * slots {
		holder(t, addr, "/health")
	}
	for range 5 {
		if err := Check(addr, "live", 5*time.Second); err != nil {
			t.Fatalf("/health while %d clients hold their answered connections: %v", 4*slots, err)
		}
	}
}

// With a READY_URL that accepts and never answers, /ready requests fill every slot: /health is still answered at
// once, and the black hole sees one probe, not one per request.
func TestServerBlackHoleReadyURL(t *testing.T) {
	t.Parallel()
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hole.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	probes := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}

	const slots = 8
	s, _ := floodServer(t, slots, "http://"+hole.Addr().String()+"/ready", nil)
	addr := s.Addr().String()
	var readers sync.WaitGroup
	for range 3 * slots {
		c := holder(t, addr, "/ready")
		readers.Go(func() { _, _ = io.Copy(io.Discard, c) })
	}
	waitFor(t, "the probe reached the black hole", func() bool { return probes() > 0 })
	begin := time.Now()
	for range 5 {
		if err := Check(addr, "live", 5*time.Second); err != nil {
			t.Fatalf("/health while %d /ready requests wait for READY_URL: %v", 3*slots, err)
		}
	}
	if took := time.Since(begin); took > probeTimeout/2 {
		t.Logf("5 checks of /health took %v (a loaded machine?)", took)
	}
	if n := probes(); n > 1 && time.Since(begin) < probeTimeout {
		t.Errorf("%d connections to READY_URL within one probe's time, want 1", n)
	}
	// The /ready requests that were not evicted get the verdict: 503 with the reason.
	if err := Check(addr, "ready", 5*time.Second); err == nil {
		t.Errorf("/ready with a READY_URL that never answers: 200, want 503")
	}
}

// Once a flood is over and the server idle, the memory goes back to the kernel, once; a quiet server never pays
// for a garbage collection.
func TestServerReleasesMemoryAfterFlood(t *testing.T) {
	t.Parallel()
	s, freed := floodServer(t, 16, "", func(l *limits) {
		l.floodConns = 4
		l.releaseAfter = 50 * time.Millisecond
	})
	addr := s.Addr().String()
	if err := Check(addr, "live", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 8 {
		conns = append(conns, holder(t, addr, "/health"))
	}
	waitFor(t, "8 connections open", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 8
	})
	if n := freed.Load(); n != 0 {
		t.Fatalf("memory released %d times before the flood ended", n)
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "the memory released after the flood", func() bool { return freed.Load() == 1 })
	for range 3 { // one at a time: no flood
		if err := Check(addr, "live", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // what the release timer would need; nothing to poll for
	if n := freed.Load(); n != 1 {
		t.Errorf("memory released %d times, want once (after the flood only)", n)
	}
}
