package integration

// The pool's signal table, phase by phase, in the style of tailscale's
// containerboot tests: each case runs pinit in pool mode with a command and
// an environment, then steps through phases, each a signal sent to pinit and
// what must follow: pinit's log lines, what /ready and /health answer, which
// workers serve, what the workers print, pinit's exit status. The signal
// tests that need clients under load (the reload, the drain of slow
// requests) and the ones that look at processes outside a PID namespace are
// in pool_test.go.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// phase is one step of a signal case. It sends signal, if any, and waits
// until pinit has logged it; then it waits for everything it wants, in the
// order of the fields, all within its time. Until a phase wants an exit
// status, pinit must keep running.
type phase struct {
	signal    syscall.Signal                 // sent to pinit once the phase before is done; 0: none
	within    time.Duration                  // the whole phase, signal to last check; 0: 60 s
	exit      *int                           // pinit exits with this status
	logs      map[string]int                 // "msg key=value ...": at least this many of pinit's log lines so far have msg and these fields
	http      []string                       // "/ready 503 draining": the path answers this status and, if one is given, state
	up        int                            // /ready answers 200 with this many workers, each up
	listening int                            // this many sockets listen on LISTEN
	serve     int                            // requests on fresh connections reach this many workers, each one /ready lists
	output    map[string]int                 // the workers' output (pinit's stdout and stderr) holds this string this many times, no more
	check     func(t *testing.T, p *poolRun) // anything else, last
}

func TestPoolSignals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cmd    command
		env    map[string]string
		phases []phase
	}{
		{
			name: "TERM drains",
			cmd:  testWorker("serve"),
			phases: []phase{
				{up: 2, serve: 2},
				{
					signal: syscall.SIGTERM, exit: new(0),
					logs: map[string]int{
						"drain started drain_delay=0s stop_signal=SIGTERM": 1,
						"worker exited exit_code=0":                        2,
						"drain finished":                                   1,
					},
					output: map[string]int{"got SIGTERM, shutting down": 2},
				},
			},
		},
		{
			name: "INT drains like TERM",
			cmd:  testWorker("serve"),
			phases: []phase{
				{up: 2},
				{
					signal: syscall.SIGINT, exit: new(0),
					logs:   map[string]int{"drain started drain_delay=0s stop_signal=SIGTERM": 1, "drain finished": 1},
					output: map[string]int{"got SIGTERM, shutting down": 2},
				},
			},
		},
		{
			name: "STOP_SIGNAL is what the workers get",
			cmd:  testWorker("serve"),
			env:  map[string]string{"STOP_SIGNAL": "INT"},
			phases: []phase{
				{up: 2},
				{
					signal: syscall.SIGTERM, exit: new(0),
					logs:   map[string]int{"drain started stop_signal=SIGINT": 1},
					output: map[string]int{"got SIGINT, shutting down": 2},
				},
			},
		},
		{
			// Not ready at once, still live, and the workers serve on
			// untold until DRAIN_DELAY is over.
			name: "DRAIN_DELAY",
			cmd:  testWorker("serve"),
			env:  map[string]string{"DRAIN_DELAY": "8s", "GRACE_TIMEOUT": "30s"},
			phases: []phase{
				{up: 2},
				{
					// Within DRAIN_DELAY of the signal, so before the workers get it.
					signal: syscall.SIGTERM, within: 8 * time.Second,
					http:   []string{"/ready 503 draining", "/health 200"},
					serve:  2,
					output: map[string]int{"got SIGTERM": 0},
				},
				{
					exit:   new(0),
					logs:   map[string]int{"drain started drain_delay=8s": 1, "worker exited exit_code=0": 2},
					output: map[string]int{"got SIGTERM": 2},
					check:  workersExitedAfter(8 * time.Second),
				},
			},
		},
		{
			// At once, though DRAIN_DELAY says 20 s.
			name: "QUIT is a fast stop",
			cmd:  testWorker("serve"),
			env:  map[string]string{"DRAIN_DELAY": "20s", "GRACE_TIMEOUT": "40s"},
			phases: []phase{
				{up: 2},
				{
					signal: syscall.SIGQUIT, within: 15 * time.Second, exit: new(0),
					logs:   map[string]int{"drain started drain_delay=0s stop_signal=SIGQUIT": 1},
					output: map[string]int{"got SIGQUIT, shutting down": 2},
				},
			},
		},
		{
			// The workers catch SIGQUIT and stay.
			name: "QUIT is bounded by GRACE_TIMEOUT",
			cmd:  testWorker("signals", "--stay"),
			env:  map[string]string{"LISTEN": "none", "GRACE_TIMEOUT": "1s"},
			phases: []phase{
				{output: map[string]int{"ready\n": 2}},
				{
					signal: syscall.SIGQUIT, exit: new(1),
					logs:   map[string]int{"drain finished: workers had to be killed": 1},
					output: map[string]int{"got SIGQUIT\n": 2},
				},
			},
		},
		{
			// The workers and their children ignore SIGTERM and SIGINT.
			name: "a second stop signal ends the grace",
			cmd:  testWorker("ignore-term", "--children", "1"),
			env:  map[string]string{"LISTEN": "none", "GRACE_TIMEOUT": "60s"},
			phases: []phase{
				{output: map[string]int{"ready pids ": 2}},
				{signal: syscall.SIGINT, logs: map[string]int{"drain started": 1}},
				{
					signal: syscall.SIGTERM, within: 20 * time.Second, exit: new(1),
					logs: map[string]int{"second stop signal: killing the remaining workers": 1},
				},
			},
		},
		{
			name: "USR1, USR2 and WINCH are forwarded to every worker",
			cmd:  testWorker("signals", "--stay"),
			env:  map[string]string{"LISTEN": "none", "GRACE_TIMEOUT": "30s"},
			phases: []phase{
				{output: map[string]int{"ready\n": 2}},
				{signal: syscall.SIGUSR1, output: map[string]int{"got SIGUSR1\n": 2}},
				{signal: syscall.SIGUSR2, output: map[string]int{"got SIGUSR2\n": 2}},
				{signal: syscall.SIGWINCH, output: map[string]int{"got SIGWINCH\n": 2}},
				// And the stop signal: the workers stay, so a second SIGTERM ends it.
				{signal: syscall.SIGTERM, output: map[string]int{"got SIGTERM\n": 2}},
				{signal: syscall.SIGTERM, exit: new(1)},
			},
		},
		{
			// Every worker replaced, each old one told to stop once its
			// replacement is up. TestPoolReloadUnderLoad checks the order
			// and that no request fails.
			name: "HUP replaces every worker",
			cmd:  testWorker("serve"),
			phases: []phase{
				{up: 2, serve: 2},
				{
					signal: syscall.SIGHUP,
					logs: map[string]int{
						"reload finished": 1, "worker started": 4, "stopping worker": 2, "worker exited exit_code=0": 2,
					},
					up: 2, serve: 2,
					output: map[string]int{"got SIGTERM, shutting down": 2},
				},
			},
		},
		{
			// Each phase waits for pinit to log its signal before the next
			// one is sent: two sent at once would merge into one.
			name: "TTIN and TTOU add and retire workers, never the last one",
			cmd:  testWorker("serve"),
			phases: []phase{
				{up: 2},
				{signal: syscall.SIGTTIN, up: 3, listening: 3, serve: 3},
				{signal: syscall.SIGTTOU, up: 2},
				{signal: syscall.SIGTTOU, up: 1},
				{signal: syscall.SIGTTOU}, // at one worker: nothing to do
				// Once the retired workers are gone and their slots'
				// sockets closed, only the last one answers.
				{signal: syscall.SIGTTOU, logs: map[string]int{"worker exited": 2}, up: 1, listening: 1, serve: 1},
				// Had a SIGTTOU gone below one worker, this would bring back one, not two.
				{signal: syscall.SIGTTIN, up: 2},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"LOG_LEVEL": "debug"}
			maps.Copy(env, tc.env)
			p := startPool(t, tc.cmd, env)
			printed := map[string]int{} // what the phases want of the output, by the last one that said
			for i, ph := range tc.phases {
				ph.run(t, p, i)
				maps.Copy(printed, ph.output)
			}
			// A line printed once too often after its phase was done.
			for s, n := range printed {
				if got := outputCount(p.pinit, s); got != n {
					t.Errorf("at the end, the workers printed %q %d times, want %d", s, got, n)
				}
			}
		})
	}
}

// run sends the phase's signal and waits for what it wants; i is its index.
func (ph phase) run(t *testing.T, p *poolRun, i int) {
	t.Helper()
	within := cmp.Or(ph.within, 60*time.Second)
	deadline := time.Now().Add(within)
	var last string // what the last check saw, shown if the phase fails
	defer func() {
		if t.Failed() && last != "" {
			t.Logf("phase %d: the last check saw %s", i, last)
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		eventually(t, max(time.Until(deadline), 0), fmt.Sprintf("phase %d: %s", i, what), func() bool {
			if ph.exit == nil && p.exited() {
				t.Fatalf("phase %d: pinit exited %d while waiting until %s", i, p.code, what)
			}
			return cond()
		})
	}

	if ph.signal != 0 {
		want := "signal received signal=" + unix.SignalName(ph.signal)
		n := countLogs(p.pinit, want)
		p.signal(ph.signal)
		wait("pinit logged "+want, func() bool { return countLogs(p.pinit, want) > n })
	}
	if ph.exit != nil {
		select {
		case <-p.done:
		case <-time.After(max(time.Until(deadline), 0)):
			t.Fatalf("phase %d: pinit still runs %s after the phase began, want exit status %d", i, within, *ph.exit)
		}
		if p.code != *ph.exit {
			t.Errorf("phase %d: pinit exited %d, want %d", i, p.code, *ph.exit)
		}
	}
	for _, want := range slices.Sorted(maps.Keys(ph.logs)) {
		n := ph.logs[want]
		wait(fmt.Sprintf("pinit logged %q %d times", want, n), func() bool { return countLogs(p.pinit, want) >= n })
	}
	for _, want := range ph.http {
		f := strings.Fields(want) // path, status, state
		code, _ := strconv.Atoi(f[1])
		wait(want, func() bool {
			c, rep, err := health(p.healthAddr, f[0])
			last = fmt.Sprintf("%s: %d %+v %v", f[0], c, rep, err)
			return err == nil && c == code && (len(f) < 3 || rep.State == f[2])
		})
	}
	if ph.up > 0 {
		wait(fmt.Sprintf("/ready answers 200 with %d workers up", ph.up), func() bool {
			c, rep, err := health(p.healthAddr, "/ready")
			last = fmt.Sprintf("/ready: %d %+v %v", c, rep, err)
			return err == nil && c == 200 && rep.allUp(ph.up)
		})
	}
	if ph.listening > 0 {
		wait(fmt.Sprintf("%d sockets listen on LISTEN", ph.listening), func() bool {
			s := tcpSockets(p.listenPort())
			last = fmt.Sprintf("sockets of LISTEN %+v", s)
			return s.listening == ph.listening
		})
	}
	if ph.serve > 0 {
		seen := waitServers(t, p.url, ph.serve, max(time.Until(deadline), 0))
		maps.Copy(seen, serversSeen(t, p.url, 20))
		_, rep, err := health(p.healthAddr, "/ready")
		if err != nil {
			t.Fatalf("phase %d: /ready: %v", i, err)
		}
		if len(seen) != ph.serve {
			t.Errorf("phase %d: requests reached %d workers, want %d: %v", i, len(seen), ph.serve, seen)
		}
		for pid := range seen {
			if !slices.Contains(rep.pids(), pid) {
				t.Errorf("phase %d: pid %d answered, /ready lists %v", i, pid, rep.pids())
			}
		}
	}
	for _, s := range slices.Sorted(maps.Keys(ph.output)) {
		n := ph.output[s]
		wait(fmt.Sprintf("the workers printed %q %d times", s, n), func() bool { return outputCount(p.pinit, s) >= n })
		if got := outputCount(p.pinit, s); got != n {
			t.Errorf("phase %d: the workers printed %q %d times, want %d", i, s, got, n)
		}
	}
	if ph.check != nil {
		ph.check(t, p)
	}
	if ph.exit == nil && p.exited() {
		t.Fatalf("phase %d: pinit exited %d", i, p.code)
	}
}

// countLogs counts pinit's log lines that match want: "msg key=value ...",
// each value as fmt prints the field (a number without its ".0").
func countLogs(p *pinit, want string) int {
	words := strings.Fields(want)
	i := len(words)
	for i > 0 && strings.Contains(words[i-1], "=") {
		i--
	}
	msg, fields := strings.Join(words[:i], " "), words[i:]
	n := 0
	for _, l := range p.logs(msg) {
		if !slices.ContainsFunc(fields, func(kv string) bool {
			k, v, _ := strings.Cut(kv, "=")
			return fmt.Sprint(l[k]) != v
		}) {
			n++
		}
	}
	return n
}

// outputCount is how many times pinit's stdout and stderr together hold s.
func outputCount(p *pinit, s string) int {
	return strings.Count(p.stdout.String(), s) + strings.Count(p.stderr.String(), s)
}

// workersExitedAfter checks, by pinit's log, that no worker exited sooner
// than d after pinit got SIGTERM.
func workersExitedAfter(d time.Duration) func(*testing.T, *poolRun) {
	return func(t *testing.T, p *poolRun) {
		t.Helper()
		var sig logLine
		for _, l := range p.logs("signal received") {
			if l.str("signal") == "SIGTERM" {
				sig = l
				break
			}
		}
		if sig == nil {
			t.Fatal("pinit did not log SIGTERM")
		}
		for _, l := range p.logs("worker exited") {
			if after := l.time().Sub(sig.time()); after < d {
				t.Errorf("worker %d exited %s after SIGTERM, before %s", l.num("pid"), after, d)
			}
		}
	}
}
