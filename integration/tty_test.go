package integration

// Init mode on a terminal (docker run -it, or pinit run from a shell): pinit
// makes its child the terminal's foreground process group, which leaves pinit
// itself in the background of its own terminal. With `stty tostop`, a
// background process that writes to its terminal gets SIGTTOU; pinit must
// neither stop on it nor pass it on to the child (which would stop the child),
// and its log lines must still reach the terminal. tini ignores SIGTTIN and
// SIGTTOU for the same reason.

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ttyChild is the command pinit runs on the terminal: a shell, so SIGTTIN and
// SIGTTOU keep their default action (stop). It reads one line from the
// terminal, which it can only do as the terminal's foreground group and while
// it is not stopped.
var ttyChild = []string{"sh", "-c", `echo "child $$ of $PPID ready"; read line; echo "child read $line"; exit 7`}

var ttyChildReady = regexp.MustCompile(`child (\d+) of (\d+) ready\n`)

func TestTTYTostop(t *testing.T) {
	for _, tc := range []struct {
		name string
		// shell: pinit is a job of a shell with job control, as when run
		// from an interactive shell: its process group is not orphaned, so
		// the kernel raises SIGTTOU on its writes. Without it pinit leads
		// its session, as under docker run -it: its process group is
		// orphaned, and the kernel fails its writes with EIO instead
		// unless SIGTTOU is ignored.
		shell bool
	}{
		{"shell job", true},
		{"session leader", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			argv := append([]string{pinitBin}, ttyChild...)
			if tc.shell {
				// Not "exec": bash must stay pinit's parent in the session.
				argv = append([]string{"bash", "-c", `set -m; "$@"; exit $?`, "bash"}, argv...)
			}
			s := startSession(t, argv)
			out := s.waitOutput(t, "child ready", ttyChildReady, 0, 0)
			m := ttyChildReady.FindStringSubmatch(out)
			child, _ := strconv.Atoi(m[1])
			pinit, _ := strconv.Atoi(m[2])
			// pinit logs this once the child has the terminal: in the
			// background, with TOSTOP set.
			s.waitOutput(t, "pinit logged the child's start", literal(`"msg":"child started"`), child, pinit)

			// The setup is what it claims: pinit is in the background of its
			// terminal, the child in the foreground.
			cs, ps := readStat(child), readStat(pinit)
			if cs.tpgid != cs.pgrp || ps.pgrp == cs.tpgid || ps.session != s.leader || cs.session != s.leader {
				t.Fatalf("child %+v, pinit %+v, session %d: want both in the session, the child's group in the foreground, pinit's not", cs, ps, s.leader)
			}
			// The child must not inherit the ignore: exec keeps SIG_IGN.
			if ign := sigIgnored(t, child); ign&(1<<(unix.SIGTTIN-1)|1<<(unix.SIGTTOU-1)) != 0 {
				t.Errorf("the child ignores SIGTTIN or SIGTTOU (SigIgn %#x): it must get their default action", ign)
			}

			// SIGTTIN and SIGTTOU sent to pinit now are dropped as tini drops
			// them: pinit cannot tell them from those its own terminal I/O
			// raises. A signal it forwards still makes it log, in the
			// background: SIGWINCH, which the shell ignores.
			for _, sig := range []syscall.Signal{unix.SIGTTOU, unix.SIGTTIN, unix.SIGWINCH} {
				if err := syscall.Kill(pinit, sig); err != nil {
					t.Fatalf("kill pinit %v: %v", sig, err)
				}
			}
			s.waitOutput(t, "pinit logged SIGWINCH", literal(`"signal":"SIGWINCH"`), child, pinit)

			if _, err := s.master.WriteString("go\n"); err != nil {
				t.Fatalf("write to the terminal: %v", err)
			}
			s.waitOutput(t, "the child read its line", literal("child read go\n"), child, pinit)
			s.waitOutput(t, "pinit logged the child's exit", literal(`"msg":"child exited"`), child, pinit)
			if code := s.wait(t); code != 7 {
				t.Fatalf("pinit exited %d, want the child's 7", code)
			}
			if out := s.out.String(); strings.Contains(out, `"signal":"SIGTTOU"`) || strings.Contains(out, `"signal":"SIGTTIN"`) {
				t.Errorf("pinit received SIGTTOU or SIGTTIN after it handed the terminal to the child:\n%s", out)
			}
		})
	}
}

// session is a new session whose controlling terminal is a fresh pty with
// TOSTOP set, led by the process the test starts.
type session struct {
	master *os.File
	out    *ttyOutput
	cmd    *exec.Cmd
	leader int // the session id: the leader's pid
	done   chan struct{}
}

// startSession runs argv as the leader of a new session on a new pty, with
// pinit's environment; everything written to the terminal collects in out.
// At the end of the test every process of the session is killed.
func startSession(t *testing.T, argv []string) *session {
	t.Helper()
	master, slave := openPTY(t)
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag |= unix.TOSTOP // stty tostop
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LOG_FORMAT=json", "LOG_LEVEL=debug", "HEALTH_LISTEN=none"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	slave.Close() // the session holds it now
	s := &session{master: master, out: &ttyOutput{}, cmd: cmd, leader: cmd.Process.Pid, done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.out.write(buf[:n])
			if err != nil { // EIO once the session has closed the terminal
				return
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		killSession(s.leader)
		<-s.done
		master.Close()
		<-read
		if t.Failed() {
			t.Logf("%q on the terminal:\n%s", argv, s.out)
		}
	})
	return s
}

// wait waits for the session leader's exit and returns its status (pinit's
// own, or as the shell passes it on).
func (s *session) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%q still running after 30s", s.cmd.Args)
	}
	ps := s.cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("%q was killed by %v", s.cmd.Args, ws.Signal())
	}
	return ps.ExitCode()
}

// waitOutput waits until the terminal shows what re matches, and returns all
// it shows. It fails at once if pinit or the child (pids; 0 = not known yet)
// is stopped: a stopped process stays stopped, so the poll cannot miss it.
func (s *session) waitOutput(t *testing.T, what string, re *regexp.Regexp, child, pinit int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.checkNotStopped(t, child, pinit)
		if out := s.out.String(); re.MatchString(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting until %s; state of pinit %q, of the child %q",
				what, readStat(pinit).state, readStat(child).state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func literal(s string) *regexp.Regexp { return regexp.MustCompile(regexp.QuoteMeta(s)) }

func (s *session) checkNotStopped(t *testing.T, child, pinit int) {
	t.Helper()
	for _, p := range []struct {
		name string
		pid  int
	}{{"the child", child}, {"pinit", pinit}} {
		if p.pid > 0 && readStat(p.pid).state == "T" {
			t.Fatalf("%s (pid %d) is stopped", p.name, p.pid)
		}
	}
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

// procStat is what the tests read of /proc/<pid>/stat.
type procStat struct {
	state                string
	pgrp, session, tpgid int
}

// readStat reads pid's stat; a process that is gone reads as the zero value.
func readStat(pid int) procStat {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}
	}
	s := string(data)
	// After "pid (comm) ": state ppid pgrp session tty_nr tpgid ...
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 6 {
		return procStat{}
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return procStat{state: f[0], pgrp: num(f[2]), session: num(f[3]), tpgid: num(f[5])}
}

// sigIgnored is the SigIgn mask of pid: bit N-1 set when signal N is ignored.
func sigIgnored(t *testing.T, pid int) uint64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("SigIgn of %d: %v", pid, err)
			}
			return n
		}
	}
	t.Fatalf("no SigIgn in /proc/%d/status", pid)
	return 0
}

// killSession SIGKILLs every process of session sid.
func killSession(sid int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && readStat(pid).session == sid {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// ttyOutput collects what the session writes to its terminal, without the
// CRs the terminal puts before each LF.
type ttyOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *ttyOutput) write(p []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.WriteString(strings.ReplaceAll(string(p), "\r", ""))
}

func (o *ttyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
