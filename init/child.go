//go:build linux

package pid1

import (
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
)

// reapTick is the longest Wait sleeps without reaping. Like tini's
// one-second sigtimedwait, it bounds what a lost SIGCHLD costs: os/signal
// drops a signal when the channel is full, and SIGCHLD is no exception.
const reapTick = time.Second

// Child supervises the one child of init mode, tini's job: it forwards every
// forwardable signal to the child, reaps every process that exits, and after
// a stop signal (SIGTERM or SIGINT) gives the child Grace to exit before it
// SIGKILLs the child's process group. Wait returns the status pinit exits with.
//
// A Child is driven by one goroutine, the one calling Wait; everything it
// reacts to arrives on Signals or from its timers. It reaps on every SIGCHLD
// and on every tick, signal or not.
type Child struct {
	PID     int
	Grace   time.Duration
	Signals <-chan os.Signal
	Log     *slog.Logger

	// Injected so that tests drive Wait without real processes or time.
	// Zero values mean the real thing.
	Reap  func([]Exit) []Exit
	Kill  func(pid int, sig os.Signal) error
	After func(time.Duration) <-chan time.Time
	Tick  <-chan time.Time // a reap at every tick; nil: every reapTick
	// OnState, if set, hears PhaseStopping when a stop signal arrives and
	// PhaseExited when the child is gone: readiness ends at either.
	OnState func(health.Phase)
}

// Wait runs until the child exits and returns its exit status (ExitCode).
func (c *Child) Wait() int {
	c.defaults()
	if c.Tick == nil {
		t := time.NewTicker(reapTick)
		defer t.Stop()
		c.Tick = t.C
	}
	var grace <-chan time.Time
	armed := false // the grace runs once, from the first stop signal
	var buf []Exit
	for {
		select {
		case <-c.Tick:
			if code, exited := c.reap(&buf); exited {
				return code
			}
		case sig := <-c.Signals:
			if sig == unix.SIGCHLD {
				if code, exited := c.reap(&buf); exited {
					return code
				}
				continue
			}
			c.Log.Info("signal received", "signal", SignalName(sig))
			c.forward(c.PID, sig)
			if (sig == unix.SIGTERM || sig == unix.SIGINT) && !armed {
				armed = true
				c.OnState(health.PhaseStopping)
				grace = c.After(c.Grace)
			}
		case <-grace:
			grace = nil
			c.Log.Warn("grace timeout: killing the child's process group", "pid", c.PID, "grace", c.Grace.String())
			c.forward(-c.PID, unix.SIGKILL)
			c.forward(c.PID, unix.SIGKILL)
		}
	}
}

// reap collects every process that has exited, and reports whether the
// child is one of them, with the status pinit exits with.
func (c *Child) reap(buf *[]Exit) (code int, exited bool) {
	*buf = c.Reap((*buf)[:0])
	for _, e := range *buf {
		if e.PID != c.PID {
			c.Log.Debug("reaped orphan", "pid", e.PID, StatusAttr(e.Status))
			continue
		}
		c.Log.Info("child exited", "pid", e.PID, StatusAttr(e.Status))
		c.OnState(health.PhaseExited)
		return e.Code(), true
	}
	return 0, false
}

func (c *Child) forward(pid int, sig os.Signal) {
	err := c.Kill(pid, sig)
	switch {
	case err == nil:
	case err == unix.ESRCH:
		c.Log.Warn("child was gone when forwarding a signal", "pid", pid, "signal", SignalName(sig))
	default:
		c.Log.Error("forward signal", "pid", pid, "signal", SignalName(sig), "err", err)
	}
}

func (c *Child) defaults() {
	if c.Reap == nil {
		c.Reap = Reap
	}
	if c.Kill == nil {
		c.Kill = Signal
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.OnState == nil {
		c.OnState = func(health.Phase) {}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// SignalName is the SIGTERM-style name of sig, for logs.
func SignalName(sig os.Signal) string {
	if s, ok := sig.(unix.Signal); ok {
		if name := unix.SignalName(s); name != "" {
			return name
		}
	}
	return sig.String()
}
