//go:build linux

package pid1

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Subreaper registers pinit as a child subreaper when it is not PID 1, so
// that orphans of its children are re-parented to pinit, not to the host's
// init, and pinit reaps them. As PID 1 this is what the kernel does anyway.
// It reports whether pinit is PID 1.
func Subreaper() (isPID1 bool, err error) {
	if os.Getpid() == 1 {
		return true, nil
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return false, fmt.Errorf("register as child subreaper: %w", err)
	}
	return false, nil
}
