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

// Notify subscribes one buffered channel to every signal pinit handles,
// SIGCHLD included, and returns it. Call it before starting any child, so
// that no SIGCHLD is missed and no signal sent once the child runs is lost.
// (Subscribing costs a round trip to the runtime per signal, 3 to 6 ms for
// all 60 on a small VM: the price of forwarding every one of them.)
//
// pinit never unsubscribes: it exits instead, and signal.Stop would cost as
// much again on the way out.
func Notify() <-chan os.Signal {
	ch := make(chan os.Signal, signalBuffer)
	signal.Notify(ch, handled()...)
	return ch
}

// handled lists the signals pinit subscribes to: 1 to SIGRTMAX but SIGKILL
// and SIGSTOP, which no process can catch, and SIGURG and SIGPROF, which the
// Go runtime keeps (see Forwardable).
func handled() []os.Signal {
	var sigs []os.Signal
	for n := unix.Signal(1); n <= sigRTMax; n++ {
		if n == unix.SIGKILL || n == unix.SIGSTOP || n == unix.SIGURG || n == unix.SIGPROF {
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
// never forwards it either), and the two the Go runtime keeps for itself.
//
// The runtime profiles with SIGPROF and never hands it to os/signal. It
// preempts a goroutine that has run for 10 ms by sending SIGURG to the
// thread that runs it, and those SIGURGs reach os/signal like one sent with
// kill: nothing tells them apart (os/signal gives no siginfo). Forwarded,
// they made the child receive SIGURGs nobody sent it, up to 10 per 100
// forwarded signals while /metrics was scraped. Turning async preemption
// off would end them, but only GODEBUG can do it (Go 1.26 rejects
// //go:debug asyncpreemptoff=1), which the child would inherit, or a linker
// flag, which a plain go build lacks. So pinit leaves SIGURG to the runtime
// and subscribes to neither: a SIGURG or SIGPROF sent to pinit does not
// reach the child.
//
// A SIGPIPE from pinit's own failing writes is never delivered (the health
// server and its clients write with MSG_NOSIGNAL, Output on a thread that
// blocks SIGPIPE): a SIGPIPE that arrives was sent, and is forwarded.
//
// SIGTTIN and SIGTTOU stop arriving once Start has given the child pinit's
// terminal: pinit ignores them from then on (see ignoreJobControl).
func Forwardable(sig os.Signal) bool {
	return sig != unix.SIGCHLD && sig != unix.SIGURG && sig != unix.SIGPROF
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
