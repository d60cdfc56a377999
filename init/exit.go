//go:build linux

package pid1

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// Exit statuses of pinit itself, as a shell and tini use them.
const (
	// ExitUsage: bad arguments or an invalid environment variable; nothing was started.
	ExitUsage = 2
	// ExitNotExecutable: the command exists but cannot be executed.
	ExitNotExecutable = 126
	// ExitNotFound: the command is not in PATH or does not exist.
	ExitNotFound = 127
	// exitSignalBase + N is the status of a child that signal N killed.
	exitSignalBase = 128
)

// ExitCode turns a wait status into the exit status a shell would report:
// the exit code of a process that exited, 128+N for one that signal N killed.
func ExitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return exitSignalBase + int(ws.Signal())
	default:
		// Stopped or continued: not an exit, reported as a failure.
		return 1
	}
}

// StatusAttr names how a process ended, for logs: exit_code=3 or
// signal=SIGKILL.
func StatusAttr(ws unix.WaitStatus) slog.Attr {
	if ws.Signaled() {
		return slog.String("signal", unix.SignalName(ws.Signal()))
	}
	return slog.Int("exit_code", ws.ExitStatus())
}
