package integration

// The signal state pinit is started with, from outside: signals ignored
// when it starts stay ignored, for pinit and for its child, and the child
// starts with the mask pinit was given, as under tini. Go's runtime limits
// what pinit can keep (see pid1.Notify and the README): the tests check all
// of that, and that the child never gets more ignored or blocked than pinit.

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sigSet is a set of signals as /proc/PID/status shows it: bit N-1 for signal N.
type sigSet uint64

func sigs(ss ...syscall.Signal) sigSet {
	var m sigSet
	for _, s := range ss {
		m |= 1 << (s - 1)
	}
	return m
}

func (m sigSet) String() string {
	var names []string
	for s := syscall.Signal(1); s <= 64; s++ {
		if m&sigs(s) != 0 {
			names = append(names, signalName(s))
		}
	}
	return "[" + strings.Join(names, " ") + "]"
}

// statusSigs reads the SigBlk and SigIgn lines of a /proc/PID/status in out.
func statusSigs(t *testing.T, out string) (blocked, ignored sigSet) {
	t.Helper()
	var found int
	for _, line := range strings.Split(out, "\n") {
		for key, dst := range map[string]*sigSet{"SigBlk:": &blocked, "SigIgn:": &ignored} {
			if v, ok := strings.CutPrefix(line, key); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					t.Fatalf("%s %q: %v", key, v, err)
				}
				*dst = sigSet(n)
				found++
			}
		}
	}
	if found != 2 {
		t.Fatalf("no SigBlk and SigIgn in:\n%s", out)
	}
	return blocked, ignored
}

// What Go's runtime leaves pinit of its inherited signal state. It keeps
// an inherited SIG_IGN only for SIGHUP and SIGINT, and leaves the job
// control signals alone until they are subscribed; it unblocks on every
// thread the signals it must always get (synchronous faults, SIGHUP,
// SIGINT, SIGQUIT, SIGABRT, SIGTERM, SIGCHLD, SIGPROF, SIGSYS, the C
// library's 32 to 34, and SIGURG, its preemption signal), so a child forked
// from any of them starts with those unblocked.
var (
	keepsIgnored  = sigs(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT)
	runtimeUnmask = sigs(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP,
		syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGTERM, syscall.SIGSTKFLT,
		syscall.SIGCHLD, syscall.SIGPROF, syscall.SIGSYS, 32, 33, 34, syscall.SIGURG)
	keepsBlocked = ^runtimeUnmask
)

// TestInitInheritedSignalState starts the same command, which prints its own
// /proc/self/status, with a signal state set (ignored: what `&` and nohup
// ignore, job control, SIGUSR2; blocked: some of each kind) with and without
// pinit in between, and compares the two.
func TestInitInheritedSignalState(t *testing.T) {
	wrap := []string{workerBin, "with-signals",
		"--ignore", "HUP,INT,QUIT,USR2,TSTP,TTIN,TTOU",
		"--block", "USR1,USR2,ALRM,WINCH,PIPE,TERM,URG,35,64"}
	cmd := []string{"cat", "/proc/self/status"}
	out, err := exec.Command(wrap[0], append(wrap[1:], cmd...)...).Output()
	if err != nil {
		t.Fatalf("%v without pinit: %v", cmd, err)
	}
	wantBlk, wantIgn := statusSigs(t, string(out))
	if wantIgn&sigs(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTTIN) == 0 || wantBlk&sigs(syscall.SIGUSR1, 35) == 0 {
		t.Fatalf("with-signals did not set the state: blocked %v, ignored %v", wantBlk, wantIgn)
	}
	for _, m := range initModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := startInit(t, opts{pidns: m.pidns, wrap: wrap}, cmd...)
			finish(t, p, 0)
			blk, ign := statusSigs(t, p.stdout.String())
			if got, want := ign&keepsIgnored, wantIgn&keepsIgnored; got != want {
				t.Errorf("the child ignores %v of %v, want %v, as without pinit", got, keepsIgnored, want)
			}
			if got, want := blk&keepsBlocked, wantBlk&keepsBlocked; got != want {
				t.Errorf("the child blocks %v, want %v, as without pinit (beside %v)", got, want, runtimeUnmask)
			}
			if extra := ign &^ wantIgn; extra != 0 {
				t.Errorf("the child ignores %v, which pinit did not", extra)
			}
			if extra := blk &^ wantBlk; extra != 0 {
				t.Errorf("the child blocks %v, which pinit did not", extra)
			}
			t.Logf("without pinit: blocked %v, ignored %v", wantBlk, wantIgn)
			t.Logf("under pinit:   blocked %v, ignored %v", blk, ign)
		})
	}
}

// TestInitIgnoredSignalsStayIgnored: started by `nohup` (SIGHUP ignored) or
// as `pinit ... &` in a shell script (SIGINT ignored), pinit does not take
// the ignored signal as one to act on or pass on: sent to pinit, it is
// dropped, as it would be by its child started the same way without pinit.
// The proof that it was not forwarded relies on order, as in
// TestInitSIGCHLDNotForwarded: SIGUSR1 is sent after it, and once the child
// has SIGUSR1, a forwarded SIGHUP or SIGINT would have reached it first.
func TestInitIgnoredSignalsStayIgnored(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrap  []string
		sig   syscall.Signal
		pidns bool
	}{
		{"nohup/pid1", []string{"nohup"}, syscall.SIGHUP, true},
		{"nohup/subreaper", []string{"nohup"}, syscall.SIGHUP, false},
		// In a PID namespace sh would be its PID 1, not pinit: outside only.
		{"sh &", []string{"sh", "-c", `"$@" & wait "$!"`, "sh"}, syscall.SIGINT, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startInit(t, opts{pidns: tc.pidns, wrap: tc.wrap}, workerBin, "signals")
			p.waitStdout("ready\n", 10*time.Second)
			pid := p.pid()
			if tc.wrap[0] == "sh" {
				pid = firstChild(pid) // sh waits for pinit
				t.Cleanup(func() { killChildrenOf(pid) })
			}
			kill(t, pid, tc.sig)
			kill(t, pid, syscall.SIGUSR1)
			out := p.waitStdout("got SIGUSR1\n", 10*time.Second)
			if strings.Contains(out, "got "+signalName(tc.sig)) {
				t.Errorf("%v, ignored when pinit started, reached the child:\n%s", signalName(tc.sig), out)
			}
			kill(t, pid, syscall.SIGTERM)
			finish(t, p, 0)
			if got, want := strings.Fields(p.stdout.String()), []string{"ready", "got", "SIGUSR1", "got", "SIGTERM"}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("the child saw %q, want %q", got, want)
			}
		})
	}
}
