//go:build linux

package pid1

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalBuffer is how many signals may wait in Notify's channel. Signals that
// arrive while it is full are dropped by os/signal; SIGCHLD loses nothing
// that way (Reap collects every exit), and a burst of 256 other signals is
// not something a container runtime sends.
const signalBuffer = 256

// Notify subscribes one buffered channel to every signal pinit can catch,
// SIGCHLD included, and returns it. Call it before starting any child, so
// that no SIGCHLD is missed and no signal sent once the child runs is lost.
// (Subscribing costs a round trip to the runtime per signal, 3 to 6 ms for
// all 62 on a small VM: the price of forwarding every one of them.)
//
// pinit never unsubscribes: it exits instead, and signal.Stop would cost as
// much again on the way out.
func Notify() <-chan os.Signal {
	ch := make(chan os.Signal, signalBuffer)
	signal.Notify(ch, catchable()...)
	return ch
}

// catchable lists signals 1 to SIGRTMAX but SIGKILL and SIGSTOP, which no
// process can catch.
func catchable() []os.Signal {
	var sigs []os.Signal
	for n := unix.Signal(1); n <= sigRTMax; n++ {
		if n == unix.SIGKILL || n == unix.SIGSTOP {
			continue
		}
		sigs = append(sigs, syscall.Signal(n))
	}
	return sigs
}

// sigRTMax is the highest signal number on Linux.
const sigRTMax = unix.Signal(64)

// Forwardable reports whether pinit passes sig on to its children: every
// catchable signal but SIGCHLD, which reports pinit's own children (tini
// never forwards it either).
//
// Two signals can also come from pinit itself, and a handler cannot tell
// them from one sent with kill (the kernel marks both SI_USER): the Go
// runtime sends SIGURG to its own threads to preempt a goroutine that runs
// for long, and a write to a closed socket or pipe raises SIGPIPE. pinit
// forwards both, as the contract asks, and keeps them rare: it is idle
// nearly all the time (preemption needs a goroutine running 10 ms), and the
// health server writes with MSG_NOSIGNAL. A stray SIGURG is harmless (its
// default action is to ignore it).
func Forwardable(sig os.Signal) bool {
	return sig != unix.SIGCHLD
}

// Signal sends sig to pid, or with a negative pid to that process group.
// ESRCH means the process is already gone: it exited between the decision and
// the kill, and its exit is on its way to Reap. Callers log it as a warning,
// as tini does.
func Signal(pid int, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return errors.New("not a unix signal: " + sig.String())
	}
	return unix.Kill(pid, s)
}
