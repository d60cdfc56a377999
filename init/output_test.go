//go:build linux

package pid1

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gatedWriter is a stderr whose reader the test stalls: Write blocks until
// the gate opens.
type gatedWriter struct {
	gate chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gatedWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

func TestOutputInOrder(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{})}
	close(g.gate)
	o := NewOutput(g)
	var want strings.Builder
	for i := range 100 {
		line := fmt.Sprintf("line %d\n", i)
		o.Write([]byte(line))
		want.WriteString(line)
	}
	if !o.wait(fakeWait) {
		t.Fatal("the writer did not empty the queue")
	}
	if got := g.String(); got != want.String() {
		t.Errorf("written:\n%s\nwant:\n%s", got, want.String())
	}
}

// TestOutputStalled: while the writer is stalled, Write returns at once and
// keeps at most the limit; the rest is counted and reported after the first
// line written once the writer goes on.
func TestOutputStalled(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{})}
	o := NewOutput(g)
	o.limit = 100 // ten lines of 10 bytes
	reports := make(chan int, 10)
	o.OnDropped(func(n int) {
		o.Write([]byte("dropped " + fmt.Sprint(n) + "\n"))
		reports <- n
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 30 {
			o.Write(fmt.Appendf(nil, "line %03d\n", i)) // 9 bytes
		}
	}()
	select {
	case <-done:
	case <-time.After(fakeWait):
		t.Fatal("Write blocked on a stalled writer")
	}
	if o.wait(10 * time.Millisecond) {
		t.Fatal("the queue was emptied while the writer is stalled")
	}
	close(g.gate)
	select {
	case n := <-reports:
		// 11 lines of 9 bytes fit in 100 (the one being written counts
		// until it is written); the other 19 were dropped.
		if n != 19 {
			t.Errorf("reported %d lines dropped, want 19", n)
		}
	case <-time.After(fakeWait):
		t.Fatal("no report of the dropped lines")
	}
	if !o.Close(fakeWait) {
		t.Fatal("Close did not write the queue out")
	}
	lines := strings.Split(strings.TrimSuffix(g.String(), "\n"), "\n")
	if len(lines) != 12 || lines[0] != "line 000" || lines[10] != "line 010" || lines[11] != "dropped 19" {
		t.Errorf("written %q, want line 000..010, then dropped 19", lines)
	}
}

// TestOutputClose: Close writes out what is queued when the writer is idle,
// gives up after its timeout when the writer is stuck in a write, and
// drops what comes after it.
func TestOutputClose(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{})}
	close(g.gate)
	o := NewOutput(g)
	o.Write([]byte("one\n"))
	o.Write([]byte("two\n"))
	if !o.Close(fakeWait) {
		t.Fatal("Close with an idle writer did not write the queue out")
	}
	o.Write([]byte("three\n"))
	time.Sleep(10 * time.Millisecond) // for a writer that wrongly still runs
	if got := g.String(); got != "one\ntwo\n" {
		t.Errorf("written %q, want one and two", got)
	}

	stalled := &gatedWriter{gate: make(chan struct{})}
	o = NewOutput(stalled)
	o.Write([]byte("stuck\n"))
	for !o.isBusy() {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if o.Close(20 * time.Millisecond) {
		t.Error("Close reported the queue written while the writer is stuck")
	}
	if took := time.Since(start); took > fakeWait/2 {
		t.Errorf("Close took %s with a timeout of 20ms", took)
	}
	close(stalled.gate)
}

func (o *Output) isBusy() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.busy
}

// TestOutputNoSIGPIPE: writing to a pipe whose reader is gone raises SIGPIPE
// in the writing thread, which os/signal would hand to pinit as if it had
// been sent to it. Output's writes raise none that is delivered; the same
// write from any other goroutine does (the negative control).
func TestOutputNoSIGPIPE(t *testing.T) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGPIPE)
	defer signal.Stop(sigs)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()

	o := NewOutput(w)
	dropped := make(chan int, 1)
	o.OnDropped(func(n int) { dropped <- n })
	for range 10 {
		o.Write([]byte("lost\n"))
	}
	if !o.wait(fakeWait) {
		t.Fatal("the writer did not finish")
	}
	select {
	case sig := <-sigs:
		t.Fatalf("Output's writes to a broken pipe delivered %v", sig)
	case <-time.After(100 * time.Millisecond):
	}
	select {
	case n := <-dropped:
		t.Fatalf("reported %d lines dropped, though no line got through", n)
	default:
	}

	// The negative control: a plain write(2) from a goroutine of ours.
	if _, err := unix.Write(int(w.Fd()), []byte("lost\n")); err != unix.EPIPE {
		t.Fatalf("write to a broken pipe: %v, want EPIPE", err)
	}
	select {
	case <-sigs:
	case <-time.After(fakeWait):
		t.Fatal("a plain write to a broken pipe delivered no SIGPIPE: the test proves nothing")
	}
}
