//go:build linux

package pid1

import (
	"errors"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// signalBuffer is how many signals may wait in Notify's channel. Signals that
// arrive while it is full are dropped by os/signal; a SIGCHLD lost that way
// costs at most a reap tick (the supervisors reap on a timer too), and a
// burst of 256 other signals is not something a container runtime sends.
const signalBuffer = 256

// Notify subscribes one buffered channel to every signal pinit handles,
// SIGCHLD included, and returns it. Call it before starting any child, so
// that no SIGCHLD is missed and no signal sent once the child runs is lost.
// (Subscribing costs a round trip to the runtime per signal, 3 to 6 ms for
// all 60 on a small VM: the price of forwarding every one of them.)
//
// With keepIgnored (init mode), a signal that is ignored when Notify runs is
// left ignored, as tini and catatonit leave it: the kernel discards it at
// pinit, and the child, for which exec keeps an ignored signal ignored,
// starts with it ignored. So `nohup pinit ...` (SIGHUP) and `pinit ... &` in
// a shell script (SIGINT) behave as they would without pinit. Subscribing
// would have replaced SIG_IGN with the runtime's handler, and ForkExec starts
// the child with every handled signal at its default action.
//
// pinit can keep only what the Go runtime leaves it: before any code of
// pinit runs, the runtime installs its own handler for every signal but
// SIGHUP and SIGINT when they are ignored (it keeps those ignored, see
// os/signal) and SIGTSTP, SIGTTIN, SIGTTOU and SIGCONT (left alone until
// subscribed). Any other inherited SIG_IGN (SIGQUIT, which `&` in a script
// ignores too, SIGTERM, SIGUSR1, ...) is gone by then: pinit forwards those
// signals, and the child starts with their default action.
//
// The pool subscribes to every signal, ignored or not: its signals are
// commands to pinit (SIGHUP reloads, SIGINT drains), as they are to
// Gunicorn, which installs its handlers whatever it inherited.
//
// pinit never unsubscribes: it exits instead, and signal.Stop would cost as
// much again on the way out.
func Notify(keepIgnored bool) <-chan os.Signal {
	sigs := handled()
	if keepIgnored {
		sigs = slices.DeleteFunc(sigs, func(s os.Signal) bool {
			return slices.Contains(inherited, s) && ignored(s.(syscall.Signal))
		})
	}
	ch := make(chan os.Signal, signalBuffer)
	signal.Notify(ch, sigs...)
	return ch
}

// inherited lists the signals whose action the Go runtime has left as pinit
// inherited it when Notify runs (see Notify): the only ones that can be
// ignored then. Asking for these alone keeps start-up short: rt_sigaction
// costs 2 µs on a loaded VM, 130 µs for all 60 signals.
var inherited = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGCONT}

// ignored reports whether sig's action is SIG_IGN now (rt_sigaction with no
// new action only reads it). os/signal's Ignored knows only of SIGHUP and
// SIGINT among the signals ignored at start.
func ignored(sig syscall.Signal) bool {
	var act struct { // the kernel's struct sigaction
		handler  uintptr
		flags    uint64
		restorer uintptr
		mask     uint64
	}
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0,
		uintptr(unsafe.Pointer(&act)), unsafe.Sizeof(act.mask), 0, 0)
	return errno == 0 && act.handler == sigIgn
}

// sigIgn is SIG_IGN, the action of an ignored signal.
const sigIgn = 1

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
