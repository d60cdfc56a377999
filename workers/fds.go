//go:build linux

package workers

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeInheritedOnExec marks every descriptor from 3 up close-on-exec, so that
// a worker gets exactly fds 0, 1, 2 and its slot's socket. Descriptors pinit
// opens are close-on-exec already; this is for those it inherited from
// whatever started it (a shell's, a runtime's), which exec would otherwise
// pass on to every worker. (Init mode passes them on, as tini does: there
// the command may expect them.) close_range(2) does it in one call from
// Linux 5.11; older kernels get the same from /proc/self/fd.
func closeInheritedOnExec() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= 3 {
			unix.CloseOnExec(fd)
		}
	}
}
