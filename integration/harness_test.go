package integration

// The harness every test here uses: TestMain builds pinit and the test
// worker; start runs pinit (startPool in pool mode) with a fully explicit
// environment and cleans up after it; eventually is the one way to wait for
// a condition; parseLogs is the one reader of pinit's JSON log lines; and
// what the kernel says about processes (/proc) and free ports. The HTTP
// clients and the load generator are in client_test.go.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	for _, b := range []struct{ out, pkg, ldflags string }{
		{pinitBin, "..", ""},
		// The test worker is built with the Go runtime's asynchronous
		// preemption off, so that its own runtime never sends it SIGURG
		// and it can report every SIGURG it gets (see testworker signals).
		{workerBin, "./testdata/testworker", "-X=runtime.godebugDefault=asyncpreemptoff=1"},
	} {
		cmd := exec.Command("go", "build", "-ldflags="+b.ldflags, "-o", b.out, b.pkg)
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

// ---------------------------------------------------------------------------
// Running pinit.

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
	wrap  []string          // a command that execs pinit (its argv before pinit's)
	// logPipe makes pinit's stderr a pipe that the test reads and can stop
	// reading or close (see pinit.stallLog).
	logPipe bool
}

// pinit is one running pinit.
type pinit struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *buffer
	stderr *buffer
	done   chan struct{}
	code   int      // exit status, valid after done
	log    *logPipe // with opts.logPipe
}

// start runs pinit with args. Its output is printed if the test fails, and
// it is killed and reaped at the end of the test.
func start(t *testing.T, o opts, args ...string) *pinit {
	t.Helper()
	argv := append(append(slices.Clone(o.wrap), pinitBin), args...)
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
	if o.logPipe {
		p.log = newLogPipe(t, p.stderr)
		cmd.Stderr = p.log.w
	}
	cmd.ExtraFiles = o.files
	// A process pinit left behind may hold the output pipes open: report
	// pinit's own exit anyway.
	cmd.WaitDelay = 2 * time.Second
	// Its own process group, so that cleanup can kill whatever it left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	if p.log != nil {
		p.log.started()
	}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = 128 + int(ws.Signal())
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.killGroup()
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

// killGroup SIGKILLs the process group pinit was started in (unshare, pinit
// and whatever they left there), unless pinit has exited, and reaps it.
func (p *pinit) killGroup() {
	if !p.exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
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

// logPipe is pinit's stderr as a pipe the test reads into pinit.stderr. The
// test can stop reading it, as a stalled log reader does (Docker's blocking
// log mode with a slow driver): once the pipe's 64 KiB are full, every write
// to it blocks. Or it can close it, as a log reader that is gone does: every
// write to it then fails with EPIPE and raises SIGPIPE in the writer.
type logPipe struct {
	r, w   *os.File
	mu     sync.Mutex
	gate   chan struct{} // closed while the test reads
	closed bool
}

func newLogPipe(t *testing.T, into *buffer) *logPipe {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// One page, the smallest pipe, so that a stall blocks its writer
	// after a few dozen lines. Fd also makes the write end blocking, as
	// the stderr a container runtime gives is.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatal(err)
	}
	l := &logPipe{r: r, w: w, gate: make(chan struct{})}
	close(l.gate)
	t.Cleanup(func() { l.close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			l.mu.Lock()
			gate := l.gate
			l.mu.Unlock()
			<-gate
			n, err := r.Read(buf)
			into.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return l
}

// started drops the test's copy of the write end, now pinit has its own.
func (l *logPipe) started() { l.w.Close() }

// close closes the read end: the log reader is gone.
func (l *logPipe) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		l.r.Close()
		l.openGate()
	}
}

func (l *logPipe) openGate() {
	select {
	case <-l.gate:
	default:
		close(l.gate)
	}
}

// stallLog stops reading pinit's stderr (opts.logPipe); it reads at most
// one more chunk, already under way.
func (p *pinit) stallLog() {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	select {
	case <-p.log.gate:
		p.log.gate = make(chan struct{})
	default:
	}
}

// resumeLog reads pinit's stderr again.
func (p *pinit) resumeLog() {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	p.log.openGate()
}

// closeLog closes the read end of pinit's stderr: its reader is gone.
func (p *pinit) closeLog() { p.log.close() }

// stderrLines is pinit's stderr, line by line.
func stderrLines(p *pinit) []string {
	s := strings.TrimRight(p.stderr.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// ---------------------------------------------------------------------------
// Pool mode.

// command is what pinit runs as each worker, with the environment it needs.
type command struct {
	argv  []string
	env   map[string]string
	files []*os.File // inherited by pinit beyond 0, 1 and 2
}

// testWorker is the test worker in the given mode.
func testWorker(args ...string) command {
	return command{argv: append([]string{workerBin}, args...)}
}

// poolRun is one pinit in pool mode.
type poolRun struct {
	*pinit
	listen     string // LISTEN, "none" or 127.0.0.1:port
	healthAddr string // HEALTH_LISTEN
	url        string // http://LISTEN/
}

// startPool runs pinit as PID 1 of a new PID namespace in pool mode. Its
// environment is WORKERS=2, LISTEN and HEALTH_LISTEN on loopback ports of
// their own and GRACE_TIMEOUT=20s, then cmd.env, then env.
func startPool(t *testing.T, cmd command, env map[string]string) *poolRun {
	t.Helper()
	return startPoolWrapped(t, nil, cmd, env)
}

// startPoolWrapped is startPool with pinit started by wrap (see opts.wrap).
func startPoolWrapped(t *testing.T, wrap []string, cmd command, env map[string]string) *poolRun {
	t.Helper()
	e := map[string]string{"WORKERS": "2", "LISTEN": addr(t), "HEALTH_LISTEN": addr(t), "GRACE_TIMEOUT": "20s"}
	maps.Copy(e, cmd.env)
	maps.Copy(e, env)
	p := start(t, opts{env: e, pidns: true, files: cmd.files, wrap: wrap}, cmd.argv...)
	return &poolRun{pinit: p, listen: e["LISTEN"], healthAddr: e["HEALTH_LISTEN"], url: "http://" + e["LISTEN"] + "/"}
}

// listenPort is the port of LISTEN.
func (p *poolRun) listenPort() int {
	_, port, _ := net.SplitHostPort(p.listen)
	n, _ := strconv.Atoi(port)
	return n
}

// ---------------------------------------------------------------------------
// Polling.

// eventually polls cond until it holds, and fails the test if it has not
// within timeout. It checks every 5 ms; after a check that took longer (an
// HTTP request, a scan of a /proc with a thousand processes, a docker
// command) it waits as long as that check took, up to 100 ms, so that
// polling keeps at most half a core busy on a machine others share.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		begin := time.Now()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(min(max(time.Since(begin), 5*time.Millisecond), 100*time.Millisecond))
	}
}

// ---------------------------------------------------------------------------
// pinit's JSON log lines.

// logLine is one of pinit's JSON log lines: time, level, msg and the
// event's fields. Numbers are float64, as encoding/json reads them.
type logLine map[string]any

func (l logLine) str(k string) string {
	s, _ := l[k].(string)
	return s
}

func (l logLine) num(k string) int {
	f, _ := l[k].(float64)
	return int(f)
}

func (l logLine) time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, l.str("time"))
	return t
}

// parseLogs reads pinit's JSON log lines from output (pinit's stderr, or a
// container's log) and returns those whose msg is msg, or all of them when
// msg is "". Other lines (the workers' own output) are skipped.
func parseLogs(output, msg string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var l logLine
		if json.Unmarshal(line, &l) != nil {
			continue
		}
		if msg == "" || l.str("msg") == msg {
			out = append(out, l)
		}
	}
	return out
}

// logs is pinit's log lines so far whose msg is msg ("": all).
func (p *pinit) logs(msg string) []logLine { return parseLogs(p.stderr.String(), msg) }

// firstLog is pinit's first log line whose msg is msg, or nil.
func (p *pinit) firstLog(msg string) logLine {
	if ls := p.logs(msg); len(ls) > 0 {
		return ls[0]
	}
	return nil
}

// waitLogs waits until pinit has logged at least n lines with msg that
// match cond (nil: any) and returns them.
func (p *pinit) waitLogs(msg string, n int, timeout time.Duration, cond func(logLine) bool) []logLine {
	p.t.Helper()
	var got []logLine
	eventually(p.t, timeout, fmt.Sprintf("%d log lines %q", n, msg), func() bool {
		got = got[:0]
		for _, l := range p.logs(msg) {
			if cond == nil || cond(l) {
				got = append(got, l)
			}
		}
		return len(got) >= n
	})
	return got
}

// ---------------------------------------------------------------------------
// Processes, from /proc.

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

// children lists the children of pid, forked by any of its threads.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		data, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// nsPID is the pid of the host process pid in its innermost PID namespace, or 0.
func nsPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return 0
}

// hostPID maps the pid of one of pinit's children in pinit's PID namespace
// (what the worker and /health report) to its pid on the host, or fails.
func (p *pinit) hostPID(nspid int) int {
	p.t.Helper()
	var host int
	eventually(p.t, 5*time.Second, fmt.Sprintf("worker %d is a child of pinit", nspid), func() bool {
		for _, c := range children(p.pid()) {
			if nsPID(c) == nspid {
				host = c
				return true
			}
		}
		return false
	})
	return host
}

// kill sends sig to a host pid, failing the test on error.
func kill(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill %d %v: %v", pid, sig, err)
	}
}

// ---------------------------------------------------------------------------
// Ports and deadlines.

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

// ports hands out loopback ports, each once per test binary: two pinits
// given the same LISTEN would both bind it (SO_REUSEPORT) and share each
// other's connections.
var ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// port is a free loopback port no other test of this run has been given.
func port(t *testing.T) int {
	t.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	for range 100 {
		p := freePort(t)
		if !ports.used[p] {
			ports.used[p] = true
			return p
		}
	}
	t.Fatal("no unused free port")
	return 0
}

// addr is "127.0.0.1:<a port of its own>".
func addr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(port(t))
}

// ctx returns a context for one step of a test.
func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}
