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
//
// SIGTTIN and SIGTTOU stop arriving once Start has given the child pinit's
// terminal: pinit ignores them from then on (see ignoreJobControl).
func Forwardable(sig os.Signal) bool {
	return sig != unix.SIGCHLD
}

// ignoreJobControl makes pinit ignore SIGTTIN and SIGTTOU from now on, as
// tini does. Start calls it once it has made the child the foreground process
// group of pinit's terminal: pinit is then in the background of its own
// terminal, where its own terminal I/O raises them (SIGTTOU on every log line
// when the terminal has TOSTOP set). Caught, each would be forwarded to the
// child and stop it, and the write would be restarted after the handler only
// to raise SIGTTOU again, forever; ignored, the write goes through. A SIGTTIN
// or SIGTTOU sent to pinit with kill is dropped too from then on: os/signal
// does not say where a signal came from.
//
// Never before the fork: exec resets caught signals to their default action
// but keeps ignored ones ignored, and the child must start with SIGTTIN and
// SIGTTOU as pinit found them. tini restores them in its child between fork
// and exec; Go runs no code of ours there, so pinit ignores them only once
// the child runs, and never forks again in init mode.
func ignoreJobControl() {
	signal.Ignore(unix.SIGTTIN, unix.SIGTTOU)
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
