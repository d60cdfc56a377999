package main

import (
	"flag"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// withSignals execs CMD with the signals of --ignore ignored and those of
// --block blocked, and nothing else blocked: the signal state a shell, nohup
// or a supervisor may hand a process it starts (`cmd &` in a script ignores
// SIGINT and SIGQUIT, nohup SIGHUP). Exec keeps both: an ignored signal stays
// ignored, and the mask is the one of the thread that calls execve.
func withSignals(args []string) int {
	fs := flag.NewFlagSet("with-signals", flag.ContinueOnError)
	ignore := fs.String("ignore", "", "comma-separated `SIGS` to ignore")
	block := fs.String("block", "", "comma-separated `SIGS` to block")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		logf("usage: testworker with-signals [--ignore SIGS] [--block SIGS] CMD [ARG...]")
		return 2
	}
	ign, err := parseSignals(*ignore)
	if err != nil {
		logf("testworker with-signals: %v", err)
		return 2
	}
	blk, err := parseSignals(*block)
	if err != nil {
		logf("testworker with-signals: %v", err)
		return 2
	}
	path, err := exec.LookPath(fs.Arg(0))
	if err != nil {
		logf("testworker with-signals: %v", err)
		return 127
	}
	for _, s := range ign {
		signal.Ignore(s)
	}
	var set unix.Sigset_t
	for _, s := range blk {
		set.Val[(s-1)/64] |= 1 << ((s - 1) % 64)
	}
	// The mask is per thread: set it on the thread that execs.
	runtime.LockOSThread()
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &set, nil); err != nil {
		logf("testworker with-signals: sigprocmask: %v", err)
		return 1
	}
	err = unix.Exec(path, fs.Args(), os.Environ())
	logf("testworker with-signals: exec %s: %v", path, err)
	return 127
}

func parseSignals(list string) ([]syscall.Signal, error) {
	var sigs []syscall.Signal
	for _, name := range strings.Split(list, ",") {
		if name == "" {
			continue
		}
		s, err := parseSignal(name)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, s)
	}
	return sigs, nil
}
