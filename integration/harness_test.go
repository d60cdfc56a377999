package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Paths of the binaries TestMain builds.
var (
	pinitBin  string
	workerBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pinit-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pinitBin = filepath.Join(dir, "pinit")
	workerBin = filepath.Join(dir, "testworker")
	for _, b := range []struct{ out, pkg string }{{pinitBin, ".."}, {workerBin, "./testdata/testworker"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buffer is an output buffer safe for a writer process and a polling test.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// opts says how to run pinit.
type opts struct {
	env   map[string]string // the whole environment besides PATH
	pidns bool              // run as PID 1 of a new PID namespace
	files []*os.File        // inherited by pinit as fds 3, 4, ... (not close-on-exec)
}

// pinit is one running pinit.
type pinit struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *buffer
	stderr *buffer
	done   chan struct{}
	code   int // exit status, valid after done
}

// start runs pinit with args. Its output is printed if the test fails, and
// it is killed and reaped at the end of the test.
func start(t *testing.T, o opts, args ...string) *pinit {
	t.Helper()
	argv := append([]string{pinitBin}, args...)
	if o.pidns {
		argv = append([]string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LOG_FORMAT=json"}
	if _, ok := o.env["HEALTH_LISTEN"]; !ok {
		cmd.Env = append(cmd.Env, "HEALTH_LISTEN=none")
	}
	for k, v := range o.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &pinit{t: t, cmd: cmd, stdout: &buffer{}, stderr: &buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.ExtraFiles = o.files
	// A process pinit left behind may hold the output pipes open: report
	// pinit's own exit anyway.
	cmd.WaitDelay = 2 * time.Second
	// Its own process group, so that cleanup can kill whatever it left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = 128 + int(ws.Signal())
		}
		_ = err
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("pinit %q\nstdout:\n%s\nstderr:\n%s", args, p.stdout, p.stderr)
		}
	})
	return p
}

// run runs pinit to its end and returns its exit status.
func run(t *testing.T, o opts, args ...string) (*pinit, int) {
	t.Helper()
	p := start(t, o, args...)
	return p, p.wait(30 * time.Second)
}

// wait waits for pinit to exit and returns its status.
func (p *pinit) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("pinit still running after %s", timeout)
		return -1
	}
}

// exited reports whether pinit has exited.
func (p *pinit) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// pid is the host pid of pinit itself: the child of unshare in a PID
// namespace, or the process started.
func (p *pinit) pid() int {
	p.t.Helper()
	if p.cmd.Args[0] != "unshare" {
		return p.cmd.Process.Pid
	}
	var pid int
	eventually(p.t, 5*time.Second, "unshare forked pinit", func() bool {
		pid = firstChild(p.cmd.Process.Pid)
		return pid > 0
	})
	return pid
}

// firstChild is a child of pid, from /proc, or 0.
func firstChild(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// signal sends sig to pinit.
func (p *pinit) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(p.pid(), sig); err != nil {
		p.t.Fatalf("kill pinit %v: %v", sig, err)
	}
}

// waitStdout waits until pinit's stdout (where the workers' output goes)
// holds s, and returns the output.
func (p *pinit) waitStdout(s string, timeout time.Duration) string {
	p.t.Helper()
	return p.waitOutput(p.stdout, "stdout", s, 1, timeout)
}

// waitLog waits until pinit's stderr holds s.
func (p *pinit) waitLog(s string, timeout time.Duration) string {
	p.t.Helper()
	return p.waitOutput(p.stderr, "stderr", s, 1, timeout)
}

// waitOutput waits until buf (pinit's stdout or stderr, named name) holds s
// at least n times, and returns its contents.
func (p *pinit) waitOutput(buf *buffer, name, s string, n int, timeout time.Duration) string {
	p.t.Helper()
	var out string
	eventually(p.t, timeout, fmt.Sprintf("%s holds %q %d times", name, s, n), func() bool {
		out = buf.String()
		return strings.Count(out, s) >= n
	})
	return out
}

// eventually polls cond every few milliseconds until it holds, and fails the
// test if it does not within timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// processState is the state letter of pid in /proc (R, S, Z, ...), or "" when it is gone.
func processState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// ctx returns a context for one step of a test.
func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}
