//go:build linux

package pid1

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// jobControlMask is SIGTTIN and SIGTTOU in a /proc SigIgn mask.
const jobControlMask = 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1)

// TestStartTerminal: pinit ignores SIGTTIN and SIGTTOU exactly when Start
// has given the child its terminal, and the child never inherits that. A
// controlling terminal and ignored signals belong to a whole process, so each
// case runs the test binary as TestStartTerminalHelper, in a session of its
// own, with or without a terminal.
func TestStartTerminal(t *testing.T) {
	for _, tc := range []struct {
		name       string
		terminal   bool // fd 0 is the helper's controlling terminal
		foreground bool // Proc.Foreground
		want       string
	}{
		// pinit under docker run -it.
		{"terminal", true, true, "foreground=true pinit_ignores=true child_ignores=false"},
		// docker run without -t: Start falls back to the background.
		{"no terminal", false, true, "foreground=false pinit_ignores=false child_ignores=false"},
		// The pool's workers: the terminal stays pinit's.
		{"not asked", true, false, "foreground=false pinit_ignores=false child_ignores=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestStartTerminalHelper$")
			cmd.Env = append(os.Environ(), "PINIT_START_HELPER=1", "PINIT_START_FOREGROUND="+strconv.FormatBool(tc.foreground))
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			cmd.WaitDelay = 10 * time.Second // should the helper leave its sleep behind
			if tc.terminal {
				master, slave := openPTY(t)
				defer master.Close()
				defer slave.Close()
				cmd.Stdin = slave
				cmd.SysProcAttr.Setctty = true
				cmd.SysProcAttr.Ctty = 0
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			var got string
			for _, line := range strings.Split(string(out), "\n") {
				if r, ok := strings.CutPrefix(line, "report "); ok {
					got = r
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q\nhelper output:\n%s", got, tc.want, out)
			}
		})
	}
}

// TestStartTerminalHelper is no test of its own: TestStartTerminal runs the
// test binary as this helper. It subscribes to every signal as pinit does,
// starts "sleep" with Start, reports what it sees on one line and exits.
// Otherwise it returns at once, as the os/exec tests' helper does: a skip
// would be listed among the tests that did not run.
func TestStartTerminalHelper(t *testing.T) {
	if os.Getenv("PINIT_START_HELPER") != "1" {
		return
	}
	Notify(true) // as init mode does
	path, err := Resolve("sleep", os.Environ())
	if err != nil {
		fmt.Println("resolve sleep:", err)
		os.Exit(1)
	}
	pid, err := Start(Proc{
		Path: path, Argv: []string{"sleep", "60"}, Env: os.Environ(),
		Files:      []uintptr{0, 1, 2},
		Foreground: os.Getenv("PINIT_START_FOREGROUND") == "true",
	})
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	fmt.Printf("report foreground=%v pinit_ignores=%v child_ignores=%v\n",
		err == nil && fg == pid, ignoresJobControl(os.Getpid()), ignoresJobControl(pid))
	_ = unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, 0, nil)
	os.Exit(0)
}

// ignoresJobControl reports whether pid ignores SIGTTIN or SIGTTOU, as the
// kernel sees it.
func ignoresJobControl(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return mask&jobControlMask != 0
		}
	}
	return false
}

// openPTY opens a new pseudo-terminal; neither end becomes the test's
// controlling terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	// Through SyscallConn, not Fd, which would make reads of the master
	// blocking, out of reach of Close.
	var n int
	rc, err := master.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			if err == nil {
				err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0) // unlockpt
			}
		})
		if err == nil {
			err = cerr
		}
	}
	if err == nil {
		slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	}
	if err != nil {
		master.Close()
		t.Fatalf("open a pty: %v", err)
	}
	return master, slave
}
