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
// exec, so every worker is started as pinit itself (see selfPath) with this
// variable set, and the stub sets LISTEN_PID=getpid() (when LISTEN_FDS is
// given) and WATCHDOG_PID (when WATCHDOG_USEC is), raises its oom_score_adj
// above pinit's (see oomMargin) and execs the command in the same process:
// same pid, same fds, fd 3 included.
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
	raiseOOMScore(procOOMScoreAdj)
	err := unix.Exec(path, os.Args, env)
	se := &pid1.StartError{Path: path, Err: err}
	fmt.Fprintf(stderr, "pinit: cannot start worker: %v\n", se)
	return se.Code()
}

// procOOMScoreAdj is the stub's own oom_score_adj, which it inherited from
// pinit with the fork.
const procOOMScoreAdj = "/proc/self/oom_score_adj"

// oomMargin is how much higher a worker's oom_score_adj is than pinit's.
//
// When a container (its memory cgroup) runs out of memory, the kernel kills
// the process with the highest badness: its share of the memory, in
// thousandths, plus its oom_score_adj (-1000..1000). pinit is often the
// largest process of a container of small workers, and if the OOM killer
// takes PID 1 the whole container goes; a worker it takes is replaced at
// once. A margin of 1000 makes every worker outrank pinit whatever their
// sizes (a share is at most 1000), as far as 1000 allows: under pinit's own
// -997 (a Kubernetes Guaranteed pod) workers get 3, under 0 (Docker) 1000,
// and under 1000 (BestEffort) they tie and size decides. Raising one's own
// oom_score_adj needs no privilege.
const oomMargin = 1000

// raiseOOMScore sets the oom_score_adj file of this process to what it
// holds (pinit's value) plus oomMargin, at most 1000. It does nothing when
// the file cannot be read or written (no /proc): the worker then starts with
// pinit's value, as it would without pinit's help.
func raiseOOMScore(file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	adj, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return
	}
	_, _ = f.WriteString(strconv.Itoa(min(adj+oomMargin, 1000)))
	f.Close()
}
