//go:build linux

package pid1

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// OutputLimit is how many bytes of log lines Output holds while stderr does
// not take them: as much again as a pipe holds (64 KiB), some 500 lines.
const OutputLimit = 64 << 10

// Output is the way out of pinit's own log lines: a bounded queue in front of
// stderr, emptied by one goroutine. Write never blocks and never fails, so a
// supervisor that logs never waits for stderr's reader, which may stall
// (Docker's blocking log mode with a slow driver, a full pipe nobody reads)
// or be gone. A line that does not fit in the queue, or whose write fails, is
// dropped and counted; after the next line that is written, Output reports
// how many were lost (see OnDropped).
//
// Writing to a file, Output also keeps pinit's own failures from becoming
// signals: a write to a pipe or socket whose reader is gone raises SIGPIPE on
// the writing thread, and os/signal would hand that SIGPIPE to pinit's
// channel, indistinguishable from one sent with kill, to be forwarded to the
// child. So the goroutine that writes keeps one OS thread to itself with
// SIGPIPE blocked there, and writes with write(2) directly (os.File raises a
// SIGPIPE of its own for fds 1 and 2). The kernel directs that SIGPIPE at the
// writing thread, where it stays pending, blocked, and is never delivered; a
// SIGPIPE sent to pinit with kill is directed at the process and is taken by
// another thread, and forwarded.
type Output struct {
	w      io.Writer // where lines go when fd < 0
	fd     int       // the file descriptor lines are written to, or -1
	limit  int
	start  sync.Once
	wake   chan struct{} // capacity 1: lines are waiting
	report func(dropped int)

	mu        sync.Mutex
	queue     [][]byte
	size      int  // bytes queued or being written
	busy      bool // the writer holds lines taken from queue
	dropped   int  // lines lost since the last report
	reporting bool // the report is being logged: its line is let in whatever the size
	closed    bool
	idle      chan struct{}
}

// NewOutput returns an Output that writes to w: directly to the file
// descriptor when w is an *os.File (os.Stderr), with w.Write otherwise. It
// starts its goroutine only when the first line comes.
func NewOutput(w io.Writer) *Output {
	o := &Output{w: w, fd: -1, limit: OutputLimit, wake: make(chan struct{}, 1)}
	if f, ok := w.(*os.File); ok {
		// Through SyscallConn, not Fd: Fd would put the descriptor, which
		// pinit shares with its children, into blocking mode.
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { o.fd = int(fd) })
		}
	}
	return o
}

// OnDropped sets what Output calls, from its goroutine, when a line has been
// written after others were lost: typically a log line saying how many.
// Call it before the first Write.
func (o *Output) OnDropped(f func(dropped int)) { o.report = f }

// Write queues one log line (slog's handlers write each record with one
// call) and returns at once. It always reports success: a line that does not
// fit is counted, not an error for the logger.
func (o *Output) Write(p []byte) (int, error) {
	o.start.Do(func() { go o.run() })
	o.mu.Lock()
	if o.closed || (o.size+len(p) > o.limit && !o.reporting) {
		o.dropped++
		o.mu.Unlock()
		return len(p), nil
	}
	o.queue = append(o.queue, append([]byte(nil), p...))
	o.size += len(p)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default: // the writer is already told
	}
	return len(p), nil
}

// Close writes out the lines still queued and ends Output: lines written
// after it are dropped. When the writer is idle, Close writes them itself, at
// once: pinit is on its way out, and waking the writer's thread to wait to be
// woken in turn would add two thread hand-overs to every exit. (A SIGPIPE
// these writes raise reaches a channel nobody reads any more.) When the
// writer is in a write, because stderr's reader stalls, Close waits for it
// for timeout at most: the reader may never come back, and pinit must exit
// anyway. It reports whether every line was written or failed.
func (o *Output) Close(timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		if !o.busy {
			o.closed = true
			batch := o.queue
			o.queue = nil
			o.mu.Unlock()
			for _, line := range batch {
				_ = o.write(line)
			}
			return true
		}
		idle := o.idleChan()
		o.mu.Unlock()
		select {
		case <-idle:
		case <-deadline.C:
			return false
		}
	}
}

// wait waits until the writer has written every queued line, or for
// timeout at most, and reports whether it has.
func (o *Output) wait(timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		if len(o.queue) == 0 && !o.busy {
			o.mu.Unlock()
			return true
		}
		idle := o.idleChan()
		o.mu.Unlock()
		select {
		case <-idle:
		case <-deadline.C:
			return false
		}
	}
}

// idleChan is closed when the writer next finds the queue empty. Call it
// with mu held.
func (o *Output) idleChan() chan struct{} {
	if o.idle == nil {
		o.idle = make(chan struct{})
	}
	return o.idle
}

// run is the one goroutine that writes. It may block in a write for as long
// as stderr's reader stalls; nothing else waits for it.
func (o *Output) run() {
	if o.fd >= 0 {
		// Never unlocked: the thread ends with the process, and no other
		// goroutine ever runs with SIGPIPE blocked.
		runtime.LockOSThread()
		blockSIGPIPE()
	}
	var batch [][]byte
	for range o.wake {
		for {
			o.mu.Lock()
			if o.closed {
				o.mu.Unlock()
				return
			}
			batch, o.queue = o.queue, batch[:0]
			o.busy = len(batch) > 0
			if !o.busy {
				if o.idle != nil {
					close(o.idle)
					o.idle = nil
				}
				o.mu.Unlock()
				break
			}
			o.mu.Unlock()
			for i, line := range batch {
				o.written(len(line), o.write(line))
				batch[i] = nil
			}
		}
	}
}

// written accounts for one line the writer is done with, and reports the
// lines lost before it once one gets through.
func (o *Output) written(n int, err error) {
	o.mu.Lock()
	o.size -= n
	lost := 0
	if err != nil {
		o.dropped++
	} else if o.report != nil {
		lost, o.dropped = o.dropped, 0
	}
	o.reporting = lost > 0
	o.mu.Unlock()
	if lost > 0 {
		// Its line goes behind the others, even into a full queue: a
		// report that is itself dropped would be reported as one line.
		o.report(lost)
		o.mu.Lock()
		o.reporting = false
		o.mu.Unlock()
	}
}

func (o *Output) write(p []byte) error {
	if o.fd < 0 {
		_, err := o.w.Write(p)
		return err
	}
	for len(p) > 0 {
		n, err := unix.Write(o.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			// Someone made the shared descriptor non-blocking: wait
			// until it takes more, as a blocking write would.
			fds := []unix.PollFd{{Fd: int32(o.fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return err
			}
			continue
		case err != nil:
			return err
		}
		p = p[n:]
	}
	return nil
}

// blockSIGPIPE blocks SIGPIPE on the calling thread only (see Output).
func blockSIGPIPE() {
	var set unix.Sigset_t
	set.Val[0] = 1 << (unix.SIGPIPE - 1)
	_ = unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil)
}
