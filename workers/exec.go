//go:build linux

package workers

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	pid1 "github.com/pinit/pinit/init"
)

// execVar marks a process as pinit's exec stub and holds the resolved path of
// the worker command. LISTEN_PID must be the worker's own pid, which exists
// only after the fork; Go's ForkExec runs no code of ours between fork and
// exec, so a worker is started as pinit itself (/proc/self/exe) with this
// variable set, and the stub sets LISTEN_PID=getpid() (when LISTEN_FDS is
// given) and WATCHDOG_PID (when WATCHDOG_USEC is) and execs the command in
// the same process: same pid, same fds, fd 3 included.
const execVar = "PINIT_INTERNAL_EXEC"

// IsExecStub reports whether this process is the stub of a worker being started.
func IsExecStub(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, execVar+"=") {
			return true
		}
	}
	return false
}

// ExecStub replaces the stub with the worker command. It returns only when
// the exec failed, with the exit status for that (126 or 127).
func ExecStub(environ []string, stderr io.Writer) int {
	var path string
	listen, watchdog := false, false
	env := make([]string, 0, len(environ)+2)
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, execVar+"="); ok {
			path = v
			continue
		}
		if !strings.HasPrefix(kv, "LISTEN_PID=") && !strings.HasPrefix(kv, "WATCHDOG_PID=") {
			env = append(env, kv)
		}
		listen = listen || strings.HasPrefix(kv, "LISTEN_FDS=")
		watchdog = watchdog || strings.HasPrefix(kv, "WATCHDOG_USEC=")
	}
	pid := strconv.Itoa(os.Getpid())
	if listen {
		env = append(env, "LISTEN_PID="+pid)
	}
	if watchdog {
		env = append(env, "WATCHDOG_PID="+pid)
	}
	err := unix.Exec(path, os.Args, env)
	se := &pid1.StartError{Path: path, Err: err}
	fmt.Fprintf(stderr, "pinit: cannot start worker: %v\n", se)
	return se.Code()
}
