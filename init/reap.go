//go:build linux

package pid1

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Exit is one process that pinit reaped.
type Exit struct {
	PID    int
	Status unix.WaitStatus
}

// Code is the exit status pinit passes on for this process: its exit code, or
// 128+N when signal N killed it.
func (e Exit) Code() int { return ExitCode(e.Status) }

// Reap collects every child that has exited, without blocking, and appends
// them to buf. Call it on every SIGCHLD: one signal may stand for many exits.
// It stops when wait4 reports that no exited child is left (0) or that there
// are no children at all (ECHILD).
func Reap(buf []Exit) []Exit {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return buf
		}
		buf = append(buf, Exit{PID: pid, Status: ws})
	}
}
