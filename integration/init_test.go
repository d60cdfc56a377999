package integration

// Init mode (WORKERS unset), black box: tini's duties. Most cases run pinit
// as PID 1 of a fresh PID namespace, the key ones also outside one, where
// pinit is a child subreaper (initModes).

import (
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// initModes are the two ways pinit runs: as PID 1 of a PID namespace, and as
// an ordinary process that registers as a child subreaper.
var initModes = []struct {
	name  string
	pidns bool
}{
	{"pid1", true},
	{"subreaper", false},
}

// startInit starts pinit like start, and makes sure nothing it started
// outlives the test: outside a PID namespace its children are in their own
// process groups, which the harness's cleanup (it kills pinit's group) does
// not reach. In a namespace the kernel kills them with pinit.
func startInit(t *testing.T, o opts, args ...string) *pinit {
	t.Helper()
	p := start(t, o, args...)
	if !o.pidns {
		pid := p.cmd.Process.Pid
		t.Cleanup(func() { // runs before start's cleanup kills pinit
			if !p.exited() {
				killChildrenOf(pid)
			}
		})
	}
	return p
}

// killChildrenOf SIGKILLs every child of pid and the process groups they lead.
func killChildrenOf(pid int) {
	for _, c := range childProcs(pid) {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		_ = syscall.Kill(c.pid, syscall.SIGKILL)
	}
}

// finish waits for pinit's end, and checks that pinit exited by itself, not
// by a signal (a pinit that dies of a SIGTERM it failed to catch would
// otherwise pass for one that passed on a child's 143), and with want.
func finish(t *testing.T, p *pinit, want int) {
	t.Helper()
	code := p.wait(20 * time.Second)
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("%s was killed by %v; pinit must always exit by itself", p.cmd.Args[0], ws.Signal())
	}
	if code != want {
		t.Fatalf("pinit exited %d, want %d", code, want)
	}
}

// childHostPID is the host pid of pinit's one child, found in /proc.
func childHostPID(t *testing.T, p *pinit) int {
	t.Helper()
	var pid int
	eventually(t, 5*time.Second, "pinit has a child", func() bool {
		if cs := childProcs(p.pid()); len(cs) == 1 {
			pid = cs[0].pid
		}
		return pid > 0
	})
	return pid
}

// procEntry is one process of /proc/<pid>/stat.
type procEntry struct {
	pid, ppid int
	state     string // R, S, Z, ...
	comm      string
}

// readProcs lists every process of the host from /proc. Processes of every
// PID namespace are there under their host pids.
func readProcs() []procEntry {
	ents, _ := os.ReadDir("/proc")
	var ps []procEntry
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ps = append(ps, procEntry{pid: pid, ppid: ppid, state: f[0], comm: s[open+1 : end]})
	}
	return ps
}

// childProcs lists the children of pid (by host pid), zombies included.
func childProcs(pid int) []procEntry {
	var cs []procEntry
	for _, p := range readProcs() {
		if p.ppid == pid {
			cs = append(cs, p)
		}
	}
	return cs
}

// ---------------------------------------------------------------------------
// Exit statuses.

func TestInitExitCodes(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	garbage := filepath.Join(dir, "garbage")
	noInterp := filepath.Join(dir, "no-interpreter")
	for _, f := range []struct {
		path, content string
		mode          os.FileMode
	}{
		{plain, "#!/bin/sh\nexit 0\n", 0o644},
		{garbage, "\x00\x01\x02 not a program\n", 0o755},
		{noInterp, "#!/nonexistent/interpreter\n", 0o755},
	} {
		if err := os.WriteFile(f.path, []byte(f.content), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		// term: send SIGTERM to pinit once the child runs.
		term bool
		want int
		// msg: the one line pinit writes on stderr holds this (nothing
		// started); "" means the child ran and pinit logs as usual.
		msg string
	}{
		{name: "exit 0", args: []string{workerBin, "exit", "0"}, want: 0},
		{name: "exit 3", args: []string{workerBin, "exit", "3"}, want: 3},
		{name: "exit 255", args: []string{workerBin, "exit", "255"}, want: 255},
		{name: "killed by SIGKILL", args: []string{workerBin, "kill-self", "KILL"}, want: 137},
		{name: "killed by SIGHUP", args: []string{workerBin, "kill-self", "HUP"}, want: 129},
		// sleep keeps SIGTERM's default action: it dies of the forwarded signal.
		{name: "SIGTERM forwarded", args: []string{"sleep", "100"}, term: true, want: 143},
		{name: "not found", args: []string{"no-such-command-for-pinit"}, want: 127, msg: "no-such-command-for-pinit"},
		{name: "missing path", args: []string{filepath.Join(dir, "missing")}, want: 127, msg: filepath.Join(dir, "missing")},
		{name: "missing interpreter", args: []string{noInterp}, want: 127, msg: noInterp},
		{name: "not executable", args: []string{plain}, want: 126, msg: plain},
		{name: "a directory", args: []string{dir}, want: 126, msg: dir},
		{name: "not a program", args: []string{garbage}, want: 126, msg: garbage},
		{name: "no command", args: nil, want: 2, msg: "no command"},
		{name: "bad variable", args: []string{workerBin, "exit", "0"}, env: map[string]string{"WORKERS": "abc"}, want: 2, msg: `WORKERS="abc"`},
	} {
		for _, m := range initModes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				p := startInit(t, opts{env: tc.env, pidns: m.pidns}, tc.args...)
				if tc.term {
					p.waitLog(`"msg":"child started"`, 10*time.Second)
					p.signal(syscall.SIGTERM)
				}
				finish(t, p, tc.want)
				if tc.msg == "" {
					rec := p.firstLog("child exited")
					if rec == nil {
						t.Fatalf(`no "child exited" log line`)
					}
					if tc.term && rec["signal"] != "SIGTERM" {
						t.Errorf(`"child exited" says %v, want signal SIGTERM: the child must die of the forwarded signal`, rec)
					}
					return
				}
				lines := stderrLines(p)
				if len(lines) == 0 || !strings.Contains(lines[0], tc.msg) || !strings.HasPrefix(lines[0], "pinit: ") {
					t.Fatalf("stderr %q, want a line starting with %q that holds %q", lines, "pinit: ", tc.msg)
				}
				if tc.name == "no command" && !strings.Contains(p.stderr.String(), "usage:") {
					t.Errorf("no usage on stderr")
				}
				if tc.name != "no command" && len(lines) != 1 {
					t.Errorf("stderr has %d lines, want one: %q", len(lines), lines)
				}
				if strings.Contains(p.stderr.String(), "child started") {
					t.Errorf("a child was started")
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// Signals.

// forwardedSignals are sent to pinit and must reach the child. SIGINT and
// SIGTERM start the grace too; the child survives SIGINT in "signals" mode.
var forwardedSignals = []syscall.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGWINCH, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGTSTP, syscall.SIGCONT,
	syscall.SIGALRM, syscall.SIGPWR, syscall.SIGTERM,
	syscall.Signal(34 + 3), syscall.Signal(64), // SIGRTMIN+3, SIGRTMAX
}

// signalName names sig as the test worker does: SIGTERM, SIGRTMIN+3.
func signalName(sig syscall.Signal) string {
	if sig >= 34 && sig <= 64 {
		return fmt.Sprintf("SIGRTMIN+%d", sig-34)
	}
	return unix.SignalName(sig)
}

func TestInitForwardsSignals(t *testing.T) {
	for _, m := range initModes {
		for _, sig := range forwardedSignals {
			name := signalName(sig)
			t.Run(m.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				p := startInit(t, opts{pidns: m.pidns}, workerBin, "signals")
				p.waitStdout("ready\n", 10*time.Second)
				p.signal(sig)
				p.waitStdout("got "+name+"\n", 10*time.Second)
				want := []string{"ready", "got " + name}
				if sig != syscall.SIGTERM {
					p.signal(syscall.SIGTERM) // "signals" exits 0 on it
					want = append(want, "got SIGTERM")
				}
				finish(t, p, 0)
				// Exactly these, once each: nothing else reached the child.
				if got := strings.Split(strings.TrimSpace(p.stdout.String()), "\n"); !slices.Equal(got, want) {
					t.Errorf("the child saw %q, want %q", got, want)
				}
			})
		}
	}
}

// TestInitSIGCHLDNotForwarded: SIGCHLD is about pinit's own children. The
// proof that it was not forwarded relies on signal order: a process handles
// pending signals lowest number first, and pinit forwards in the order it
// handles them, so a forwarded SIGCHLD (17) would reach the child before the
// SIGWINCH (28) sent after it.
func TestInitSIGCHLDNotForwarded(t *testing.T) {
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := startInit(t, opts{pidns: m.pidns}, workerBin, "signals")
			p.waitStdout("ready\n", 10*time.Second)
			p.signal(syscall.SIGCHLD)
			p.signal(syscall.SIGCHLD)
			p.signal(syscall.SIGWINCH)
			out := p.waitStdout("got SIGWINCH\n", 10*time.Second)
			if strings.Contains(out, "SIGCHLD") {
				t.Errorf("SIGCHLD was forwarded:\n%s", out)
			}
			p.signal(syscall.SIGTERM)
			finish(t, p, 0)
		})
	}
}

// TestNoStraySignals: the children receive exactly the signals sent to
// pinit. The Go runtime sends SIGURG to pinit's own threads to preempt
// goroutines, more of them while /metrics is scraped; forwarded, those
// reached the child though nobody sent them. pinit forwards no SIGURG, and
// no SIGPROF (the runtime keeps it). The test worker reports every SIGURG it
// gets (TestMain builds it without async preemption of its own).
func TestNoStraySignals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		workers int
	}{
		{"init", nil, 1},
		{"pool", map[string]string{"WORKERS": "2", "LISTEN": "none"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"HEALTH_LISTEN": addr(t)}
			maps.Copy(env, tc.env)
			p := startInit(t, opts{pidns: true, env: env}, workerBin, "signals")
			p.waitOutput(p.stdout, "stdout", "ready\n", tc.workers, 10*time.Second)
			stop := hammer(t, "http://"+env["HEALTH_LISTEN"]+"/metrics")
			sigs := []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM}
			for i := range 100 {
				sig := sigs[i%len(sigs)]
				p.signal(sig)
				// One at a time: sent together, they would coalesce.
				p.waitOutput(p.stdout, "stdout", "got "+signalName(sig)+"\n", tc.workers*(i/len(sigs)+1), 10*time.Second)
			}
			stop()
			strays := strings.Count(p.stdout.String(), "got SIGURG\n") / tc.workers
			// Then the two the runtime keeps, and SIGPWR behind them: once the
			// children have SIGPWR, they would have had the others.
			p.signal(syscall.SIGURG)
			p.signal(syscall.SIGPROF)
			p.signal(syscall.SIGPWR)
			out := p.waitOutput(p.stdout, "stdout", "got SIGPWR\n", tc.workers, 10*time.Second)
			if strays > 0 {
				t.Errorf("%d SIGURGs nobody sent reached each child with 100 signals forwarded", strays)
			}
			for _, sig := range []string{"SIGURG", "SIGPROF"} {
				if strings.Contains(out, "got "+sig) {
					t.Errorf("%s sent to pinit reached the children:\n%s", sig, out)
				}
			}
			p.signal(syscall.SIGTERM)
			if code := p.wait(20 * time.Second); code != 0 {
				t.Fatalf("pinit exited %d, want 0", code)
			}
		})
	}
}

// hammer GETs url over and over from 4 clients until stop is called.
func hammer(t *testing.T, url string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := freshClient()
			for {
				select {
				case <-done:
					return
				default:
				}
				if resp, err := c.Get(url); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// ---------------------------------------------------------------------------
// Orphans.

// orphanMaker returns the command of a child that makes n orphans and then
// keeps running: a shell runs a second shell that forks n subshells and exits
// without waiting for them, so they are re-parented to PID 1 or to the nearest
// subreaper; then the first shell becomes "sleep 1000". The orphans are
// subshells (no exec: forking is what costs) blocked opening the FIFO until
// release is called; then they all exit at once. release wakes only those
// already blocked in their open: on a loaded machine a subshell may be alive
// but not there yet, so callers release again until every one is gone.
func orphanMaker(t *testing.T, n int) (argv []string, release func()) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	spawn := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do (read x <%s) & i=$((i+1)); done`, n, fifo)
	release = func() {
		// Every reader blocked in open wakes up when a writer opens, and
		// reads EOF once it has closed. O_NONBLOCK: no reader left is ENXIO.
		if fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			syscall.Close(fd)
		}
	}
	t.Cleanup(release)
	return []string{"sh", "-c", `sh -c "$0"; exec sleep 1000`, spawn}, release
}

// census counts the children of a reaper: the orphan maker's subshells still
// alive, the zombies, and the running "sleep" it ends as.
type census struct{ live, zombies, sleeps int }

func takeCensus(reaper int) census {
	var c census
	for _, p := range childProcs(reaper) {
		switch {
		case p.state == "Z":
			c.zombies++
		case p.comm == "sh":
			c.live++
		case p.comm == "sleep":
			c.sleeps++
		}
	}
	return c
}

// reaped is the check that pinit reaped every orphan: nothing left but the
// running child.
func (c census) reaped() bool { return c == census{sleeps: 1} }

const orphanCount = 1000

// TestInitReapsOrphans is not parallel: forking a thousand processes is slow
// enough in a small VM, and several at once are much slower than in turn.
func TestInitReapsOrphans(t *testing.T) {
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			argv, release := orphanMaker(t, orphanCount)
			p := startInit(t, opts{pidns: m.pidns}, argv...)
			pid := p.pid()
			// They are pinit's now: proof that pinit is their reaper (were it
			// not a subreaper, they would go to the host's init and the
			// check below would pass for nothing).
			eventually(t, 60*time.Second, fmt.Sprintf("pinit has %d orphans", orphanCount), func() bool {
				return takeCensus(pid) == census{live: orphanCount, sleeps: 1}
			})
			var c census
			reaped := false
			defer func() {
				if !reaped {
					t.Logf("pinit's children at last: %d orphans alive, %d zombies, %d sleep", c.live, c.zombies, c.sleeps)
				}
			}()
			eventually(t, 60*time.Second, "every orphan is reaped", func() bool {
				release() // a thousand exits at once: SIGCHLD coalesces
				c = takeCensus(pid)
				return c.reaped()
			})
			reaped = true
			if p.exited() {
				t.Fatalf("pinit exited while its child runs: %d", p.code)
			}
			p.signal(syscall.SIGTERM)
			finish(t, p, 143)
		})
	}
}

// TestInitOrphansNegativeControl shows that the check of TestInitReapsOrphans
// can fail: the same orphan maker as PID 1 of a namespace, with nobody to
// reap (sleep never waits), leaves zombies that the census sees.
func TestInitOrphansNegativeControl(t *testing.T) {
	t.Parallel()
	const n = 20
	argv, release := orphanMaker(t, n)
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", "--kill-child"}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	var pid1 int
	eventually(t, 5*time.Second, "unshare forked PID 1", func() bool {
		pid1 = firstChild(cmd.Process.Pid)
		return pid1 > 0
	})
	// PID 1 is the maker itself here: it becomes the "sleep" that reaps nothing.
	eventually(t, 30*time.Second, "PID 1 has the orphans", func() bool {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid1))
		return string(comm) == "sleep\n" && takeCensus(pid1) == census{live: n}
	})
	var c census
	eventually(t, 30*time.Second, fmt.Sprintf("%d zombies", n), func() bool {
		release()
		c = takeCensus(pid1)
		return c.zombies == n
	})
	c.sleeps = 1 // as pinit's census would count its child
	if c.reaped() {
		t.Fatalf("the reaped check passes with %d zombies", c.zombies)
	}
}

// TestInitReapsWorkerOrphans: the test worker's own orphans, which exit a
// while after they are re-parented to pinit.
func TestInitReapsWorkerOrphans(t *testing.T) {
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			const n = 20
			p := startInit(t, opts{pidns: m.pidns}, workerBin, "orphans", strconv.Itoa(n), "--linger", "5s")
			pid := p.pid()
			p.waitStdout(fmt.Sprintf("spawned %d\n", n), 30*time.Second)
			// pinit's now, while they linger, not the host's init's: the last
			// one is re-parented as its parent exits and lives 5 s more.
			eventually(t, 5*time.Second, "pinit has orphans besides its child", func() bool {
				return len(childProcs(pid)) > 1
			})
			var cs []procEntry
			eventually(t, 10*time.Second, "pinit has only its child left", func() bool {
				cs = childProcs(pid)
				return len(cs) == 1 && cs[0].state != "Z"
			})
			p.signal(syscall.SIGTERM)
			finish(t, p, 0)
			rec := p.firstLog("child exited")
			if rec == nil || rec["exit_code"] != float64(0) {
				t.Errorf(`"child exited" = %v, want exit_code 0`, rec)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Grace.

var readyPIDs = regexp.MustCompile(`ready pids ([0-9 ]+)\n`)

func TestInitGraceKillsProcessGroup(t *testing.T) {
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			const grace = time.Second
			p := startInit(t, opts{pidns: m.pidns, env: map[string]string{"GRACE_TIMEOUT": "1s"}},
				workerBin, "ignore-term", "--children", "2")
			out := p.waitStdout("ready pids", 10*time.Second)
			eventually(t, 5*time.Second, "the whole ready line", func() bool {
				out = p.stdout.String()
				return readyPIDs.MatchString(out)
			})
			var pids []int
			for _, f := range strings.Fields(readyPIDs.FindStringSubmatch(out)[1]) {
				n, _ := strconv.Atoi(f)
				pids = append(pids, n)
			}
			if len(pids) != 3 {
				t.Fatalf("want the child and its 2 children, got pids %v", pids)
			}
			if !m.pidns {
				// Host pids. Should pinit leave them, they must not outlive the test.
				t.Cleanup(func() {
					for _, pid := range pids {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				})
			}
			sent := time.Now()
			p.signal(syscall.SIGTERM)
			finish(t, p, 137)
			took := time.Since(sent)
			if took < grace {
				t.Errorf("pinit exited %s after SIGTERM, before the grace of %s", took, grace)
			}
			if took > grace+8*time.Second {
				t.Errorf("pinit exited %s after SIGTERM, long after the grace of %s", took, grace)
			}
			p.waitLog("grace timeout", time.Second)
			if m.pidns {
				return // the namespace died with its PID 1: nothing to see
			}
			// Its whole process group is gone, not just the child (a zombie
			// re-parented to the host's init, not yet reaped, is gone too).
			for _, pid := range pids {
				eventually(t, 5*time.Second, fmt.Sprintf("pid %d is gone", pid), func() bool {
					s := processState(pid)
					return s == "" || s == "Z"
				})
			}
		})
	}
}

func TestInitPromptExitSkipsGrace(t *testing.T) {
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := startInit(t, opts{pidns: m.pidns, env: map[string]string{"GRACE_TIMEOUT": "30s"}}, workerBin, "signals")
			p.waitStdout("ready\n", 10*time.Second)
			sent := time.Now()
			p.signal(syscall.SIGTERM)
			finish(t, p, 0)
			if took := time.Since(sent); took > 10*time.Second {
				t.Errorf("pinit took %s to exit after its child did", took)
			}
			if strings.Contains(p.stderr.String(), "grace timeout") {
				t.Errorf("the grace ran out though the child exited at once")
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Invocation.

func TestInitInvocation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		want   int
		stdout *regexp.Regexp // nil: stdout is empty
		stderr *regexp.Regexp
	}{
		{"version", []string{"--version"}, 0, regexp.MustCompile(`^pinit \S+\n$`), regexp.MustCompile(`^$`)},
		{"-h", []string{"-h"}, 0, regexp.MustCompile(`(?s)^usage: pinit .*--help.*HEALTH_LISTEN`), regexp.MustCompile(`^$`)},
		{"--help", []string{"--help"}, 0, regexp.MustCompile(`(?s)^usage: pinit .*--help.*HEALTH_LISTEN`), regexp.MustCompile(`^$`)},
		{"--help before a command", []string{"--help", "sleep", "100"}, 0, regexp.MustCompile(`^usage: pinit `), regexp.MustCompile(`^$`)},
		{"no command", nil, 2, nil, regexp.MustCompile(`(?m)^usage: pinit`)},
		{"only --", []string{"--"}, 2, nil, regexp.MustCompile(`(?m)^usage: pinit`)},
		{"unknown option", []string{"--bogus"}, 2, nil, regexp.MustCompile(`(?s)^pinit: .*--bogus.*usage: pinit`)},
		{"unknown short option", []string{"-x", "sleep"}, 2, nil, regexp.MustCompile(`(?s)^pinit: .*-x.*usage: pinit`)},
		{"-- then an option-like command", []string{"--", "--weird"}, 127, nil, regexp.MustCompile(`^pinit: [^\n]*--weird[^\n]*\n$`)},
		{"options after the command are its own", []string{"sh", "-c", `echo "$1"`, "sh", "--version"}, 0, regexp.MustCompile(`^--version\n$`), regexp.MustCompile(`child exited`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, code := run(t, opts{}, tc.args...)
			if code != tc.want {
				t.Fatalf("pinit %q exited %d, want %d", tc.args, code, tc.want)
			}
			if out := p.stdout.String(); (tc.stdout == nil && out != "") || (tc.stdout != nil && !tc.stdout.MatchString(out)) {
				t.Errorf("stdout %q, want %v", out, tc.stdout)
			}
			if !tc.stderr.MatchString(p.stderr.String()) {
				t.Errorf("stderr %q, want %v", p.stderr.String(), tc.stderr)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Logs.

func TestInitJSONLogs(t *testing.T) {
	for _, format := range []string{"json", "auto"} { // auto: stderr is no terminal
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			p := startInit(t, opts{pidns: true, env: map[string]string{"LOG_FORMAT": format, "LOG_LEVEL": "debug"}}, workerBin, "signals")
			p.waitStdout("ready\n", 10*time.Second)
			p.signal(syscall.SIGUSR1)
			p.waitStdout("got SIGUSR1\n", 10*time.Second)
			p.signal(syscall.SIGTERM)
			finish(t, p, 0)

			// Every line of stderr is a JSON object (the child writes to stdout only).
			recs, lines := p.logs(""), stderrLines(p)
			if len(recs) != len(lines) {
				t.Fatalf("%d of the %d stderr lines are JSON objects, want all:\n%s", len(recs), len(lines), strings.Join(lines, "\n"))
			}
			for _, rec := range recs {
				if _, err := time.Parse(time.RFC3339Nano, rec.str("time")); err != nil {
					t.Errorf("record without a valid time: %v", rec)
				}
				if !slices.Contains([]string{"DEBUG", "INFO", "WARN", "ERROR"}, rec.str("level")) {
					t.Errorf("record without a level: %v", rec)
				}
				if rec.str("msg") == "" {
					t.Errorf("record without a msg: %v", rec)
				}
			}
			started, exited := p.firstLog("child started"), p.firstLog("child exited")
			if started == nil || exited == nil {
				t.Fatalf("want child started and child exited records, got %v", recs)
			}
			pid, _ := started["pid"].(float64)
			if pid <= 0 || exited["pid"] != pid || exited["exit_code"] != float64(0) {
				t.Errorf("child started %v, child exited %v: want the same pid, exit_code 0", started, exited)
			}
			if !slices.ContainsFunc(recs, func(r logLine) bool {
				return r["msg"] == "signal received" && r["signal"] == "SIGUSR1"
			}) {
				t.Errorf(`no "signal received" record with signal SIGUSR1`)
			}
			cfg := p.firstLog("config loaded")
			if cfg == nil || cfg["level"] != "DEBUG" {
				t.Fatalf(`"config loaded" = %v, want a DEBUG record`, cfg)
			}
			for _, name := range []string{
				"WORKERS", "LISTEN", "PORT", "HEALTH_LISTEN", "GRACE_TIMEOUT", "DRAIN_DELAY",
				"STOP_SIGNAL", "READY_URL", "LOG_FORMAT", "LOG_LEVEL",
			} {
				if _, ok := cfg[name]; !ok {
					t.Errorf(`"config loaded" lacks %s: %v`, name, cfg)
				}
			}
		})
	}
}

func TestInitLogLevels(t *testing.T) {
	for _, tc := range []struct {
		level      string
		debug      bool // "config loaded"
		childLines bool // "child started", "child exited" (info)
	}{
		{"debug", true, true},
		{"info", false, true},
		{"warn", false, false},
		{"error", false, false},
	} {
		t.Run(tc.level, func(t *testing.T) {
			t.Parallel()
			p, code := run(t, opts{pidns: true, env: map[string]string{"LOG_LEVEL": tc.level}}, workerBin, "exit", "0")
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			got := p.stderr.String()
			if strings.Contains(got, `"config loaded"`) != tc.debug || strings.Contains(got, `"child started"`) != tc.childLines {
				t.Errorf("LOG_LEVEL=%s: stderr %q", tc.level, got)
			}
		})
	}
}

func TestInitTextLogs(t *testing.T) {
	t.Parallel()
	p, code := run(t, opts{pidns: true, env: map[string]string{"LOG_FORMAT": "text", "LOG_LEVEL": "debug"}}, workerBin, "exit", "3")
	if code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	lines := stderrLines(p)
	if len(lines) < 3 {
		t.Fatalf("want at least config loaded, child started, child exited; got %q", lines)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "{") {
			t.Errorf("a JSON line with LOG_FORMAT=text: %q", l)
		}
		if strings.Contains(l, "\x1b[") {
			t.Errorf("colour codes though stderr is no terminal: %q", l)
		}
	}
	for _, want := range []string{"config loaded", "child started", "child exited", "exit_code=3"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q: %q", want, lines)
		}
	}
}

// ---------------------------------------------------------------------------
// Output.

func TestInitChildOutput(t *testing.T) {
	t.Parallel()
	// Bytes as written: no prefix, no line buffering, a last line without
	// its newline kept as it is; stderr to stderr.
	p, code := run(t, opts{pidns: true, env: map[string]string{"LOG_LEVEL": "error"}},
		"sh", "-c", `echo out-1; echo err-1 >&2; printf 'out-2 no newline'`)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := p.stdout.String(); got != "out-1\nout-2 no newline" {
		t.Errorf("stdout %q", got)
	}
	if got := p.stderr.String(); got != "err-1\n" {
		t.Errorf("stderr %q", got)
	}
}

// TestInitChildInheritsStdio: the child writes to pinit's own stdout and
// stderr (the same pipes), so nothing is copied or re-buffered.
func TestInitChildInheritsStdio(t *testing.T) {
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := startInit(t, opts{pidns: m.pidns}, workerBin, "signals")
			p.waitStdout("ready\n", 10*time.Second)
			pid, child := p.pid(), childHostPID(t, p)
			for _, fd := range []int{1, 2} {
				mine, err1 := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
				its, err2 := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", child, fd))
				if err1 != nil || err2 != nil || mine != its {
					t.Errorf("fd %d: pinit has %q (%v), the child %q (%v); want the same", fd, mine, err1, its, err2)
				}
			}
			p.signal(syscall.SIGTERM)
			finish(t, p, 0)
		})
	}
}
