package integration

// pinit's own stderr, stalled or broken, from outside: PID 1 never waits on
// its log reader, and its failing writes never become signals for its
// children. The stall is the one of Docker's blocking log mode with a slow
// driver: the reader of pinit's stderr stops reading, the pipe fills, and
// every write to it blocks; meanwhile signals arrive (a flood of them, to
// fill os/signal's channel behind a blocked supervisor), the child dies, or
// a SIGTERM comes.

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// floodSignals are sent in turn to pinit during a stall. The children
// handle or ignore every one of them, and pinit forwards them all.
var floodSignals = []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM}

// flood sends pinit sigs in turn, as fast as it can, for d: far more than
// pinit's stderr takes in log lines and its signal channel holds. Standard
// signals coalesce while pending, so pinit gets a fraction of them, but as
// many as it can take.
func (p *pinit) flood(d time.Duration, sigs ...syscall.Signal) {
	p.t.Helper()
	pid := p.pid()
	for end := time.Now().Add(d); time.Now().Before(end); {
		for _, s := range sigs {
			if err := syscall.Kill(pid, s); err != nil {
				p.t.Fatalf("kill pinit %v: %v", s, err)
			}
		}
	}
}

// exitsWithin waits up to d for pinit's exit status, failing the test if
// it is still running.
func (p *pinit) exitsWithin(d time.Duration, what string) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("pinit still running %s after %s", what, d)
		return -1
	}
}

// TestInitStalledStderr: while pinit's stderr is stalled and signals flood
// in, pinit goes on supervising: it reaps a child that dies and passes on its
// status, and a SIGTERM still ends in the child's SIGKILL at GRACE_TIMEOUT.
// Log lines that did not fit are counted, and the count is logged once
// stderr takes lines again.
func TestInitStalledStderr(t *testing.T) {
	t.Run("lost lines are counted", func(t *testing.T) {
		t.Parallel()
		p := startInit(t, opts{pidns: true, logPipe: true}, workerBin, "signals")
		p.waitStdout("ready\n", 10*time.Second)
		p.stallLog()
		p.flood(time.Second, floodSignals...)
		p.resumeLog()
		l := p.waitLogs("log lines dropped", 1, 10*time.Second, nil)[0]
		if l.str("level") != "WARN" || l.num("count") <= 0 {
			t.Errorf("want a WARN with a count > 0, got %v", l)
		}
		p.signal(syscall.SIGTERM)
		finish(t, p, 0)
	})
	t.Run("the child dies", func(t *testing.T) {
		t.Parallel()
		p := startInit(t, opts{pidns: true, logPipe: true}, workerBin, "signals")
		p.waitStdout("ready\n", 10*time.Second)
		child := childHostPID(t, p)
		p.stallLog()
		p.flood(time.Second, floodSignals...)
		kill(t, child, syscall.SIGKILL)
		// A reap tick (1 s) and the exit's bounded wait for stderr (0.5 s),
		// with room for a loaded machine.
		if code := p.exitsWithin(5*time.Second, "with its stderr stalled, after its child was killed"); code != 137 {
			t.Fatalf("pinit exited %d, want 137", code)
		}
	})
	t.Run("SIGTERM", func(t *testing.T) {
		t.Parallel()
		const grace = 2 * time.Second
		p := startInit(t, opts{pidns: true, logPipe: true, env: map[string]string{"GRACE_TIMEOUT": grace.String()}},
			workerBin, "ignore-term")
		p.waitStdout("ready pids", 10*time.Second)
		p.stallLog()
		p.flood(time.Second/2, floodSignals...)
		sent := time.Now()
		p.signal(syscall.SIGTERM)
		p.flood(time.Second/2, floodSignals...)
		code := p.exitsWithin(grace+3*time.Second, "with its stderr stalled, after SIGTERM")
		if code != 137 {
			t.Fatalf("pinit exited %d, want 137 (the child ignores SIGTERM)", code)
		}
		if took := time.Since(sent); took < grace {
			t.Errorf("pinit exited %s after SIGTERM, before the grace of %s", took, grace)
		}
	})
}

// TestPoolStalledStderr: the same in pool mode. A worker killed during the
// stall is replaced during the stall; after SIGTERM, the drain ends within
// GRACE_TIMEOUT, stall or not.
func TestPoolStalledStderr(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WORKERS": "2", "LISTEN": "none", "GRACE_TIMEOUT": "5s", "LOG_FORMAT": "json"}
	p := startInit(t, opts{pidns: true, logPipe: true, env: env}, workerBin, "signals")
	p.waitOutput(p.stdout, "stdout", "ready\n", 2, 10*time.Second)
	var workers []int
	eventually(t, 5*time.Second, "pinit has 2 workers", func() bool {
		workers = children(p.pid())
		return len(workers) == 2
	})
	p.stallLog()
	p.flood(time.Second, floodSignals...)
	kill(t, workers[0], syscall.SIGKILL)
	eventually(t, 5*time.Second, "the killed worker is reaped and replaced during the stall", func() bool {
		now := children(p.pid())
		return len(now) == 2 && !slices.Contains(now, workers[0]) && processState(workers[0]) == ""
	})
	p.resumeLog()
	p.waitLogs("log lines dropped", 1, 10*time.Second, nil)

	p.stallLog()
	p.flood(time.Second/2, floodSignals...)
	p.signal(syscall.SIGTERM)
	if code := p.exitsWithin(5*time.Second+3*time.Second, "with its stderr stalled, after SIGTERM"); code != 0 {
		t.Fatalf("pinit exited %d, want 0 (the workers exit on SIGTERM)", code)
	}
}

// TestInitBrokenStderr: pinit's stderr has no reader left. Its log lines are
// lost, but its failing writes raise no signal that reaches the child: the
// child gets exactly the signals sent to pinit (with a SIGPIPE from those
// writes forwarded, a `sleep` would die of it, 141).
func TestInitBrokenStderr(t *testing.T) {
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := startInit(t, opts{pidns: m.pidns, logPipe: true}, workerBin, "signals")
			p.waitStdout("ready\n", 10*time.Second)
			p.waitLog(`"child started"`, 10*time.Second)
			p.closeLog()
			for i, sig := range []syscall.Signal{syscall.SIGWINCH, syscall.SIGUSR1, syscall.SIGWINCH} {
				p.signal(sig)
				p.waitOutput(p.stdout, "stdout", "got "+signalName(sig)+"\n", 1+i/2, 10*time.Second)
			}
			p.signal(syscall.SIGTERM)
			finish(t, p, 0)
			want := []string{"ready", "got SIGWINCH", "got SIGUSR1", "got SIGWINCH", "got SIGTERM"}
			if got := strings.Split(strings.TrimSpace(p.stdout.String()), "\n"); !slices.Equal(got, want) {
				t.Errorf("the child saw %q, want %q", got, want)
			}
		})
	}
}

// TestPoolBrokenStderr: the same in pool mode, where each forwarded SIGPIPE
// was logged, and the failing log line raised the next one: the workers got
// a stream of SIGPIPEs and pinit spun at a full CPU.
func TestPoolBrokenStderr(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WORKERS": "2", "LISTEN": "none", "LOG_FORMAT": "json"}
	p := startInit(t, opts{pidns: true, logPipe: true, env: env}, workerBin, "signals")
	p.waitOutput(p.stdout, "stdout", "ready\n", 2, 10*time.Second)
	p.waitLog(`"pool started"`, 10*time.Second)
	p.closeLog()
	p.signal(syscall.SIGWINCH)
	p.waitOutput(p.stdout, "stdout", "got SIGWINCH\n", 2, 10*time.Second)
	before := cpuTime(t, p.pid())
	time.Sleep(time.Second) // a span to measure pinit's CPU time over
	if used := cpuTime(t, p.pid()) - before; used > 200*time.Millisecond {
		t.Errorf("pinit used %s of CPU in 1 s with nothing to do", used)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("pinit exited %d, want 0", code)
	}
	if out := p.stdout.String(); strings.Contains(out, "SIGPIPE") {
		t.Errorf("the workers got SIGPIPE:\n%s", out)
	}
}

// cpuTime is the CPU time pid has used, user and system, from /proc.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	// After "pid (comm) ": state is field 3; utime and stime are 14 and 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
