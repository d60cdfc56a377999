package main

import (
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// autoCount stands in for workers.AutoCount: WORKERS=auto must use it.
func autoCount() int { return 7 }

// defaultConfig is what an empty environment gives (init mode).
func defaultConfig() config {
	return config{
		HealthListen:  ":8081",
		Grace:         9 * time.Second,
		WorkerTimeout: 30 * time.Second,
		StopSignal:    unix.SIGTERM,
		LogFormat:     "auto",
		LogLevel:      slog.LevelInfo,
	}
}

// sameConfig compares the validated fields, not raw.
func sameConfig(a, b config) bool {
	a.raw, b.raw = rawConfig{}, rawConfig{}
	return a == b
}

func TestLoadConfig(t *testing.T) {
	with := func(f func(*config)) config {
		c := defaultConfig()
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		env  []string
		want config
	}{
		{"defaults", nil, defaultConfig()},
		{"unrelated variables", []string{"HOME=/root", "PATH=/bin", "=weird", "NOEQUALS"}, defaultConfig()},
		{"empty means unset", []string{
			"WORKERS=", "LISTEN=", "PORT=", "HEALTH_LISTEN=", "GRACE_TIMEOUT=", "DRAIN_DELAY=",
			"WORKER_TIMEOUT=", "STOP_SIGNAL=", "READY_URL=", "LOG_FORMAT=", "LOG_LEVEL=",
		}, defaultConfig()},

		// WORKERS and the LISTEN it implies.
		{"WORKERS=1", []string{"WORKERS=1"}, with(func(c *config) { c.Workers, c.Listen = 1, ":8080" })},
		{"WORKERS=1024", []string{"WORKERS=1024"}, with(func(c *config) { c.Workers, c.Listen = 1024, ":8080" })},
		{"WORKERS with spaces", []string{"WORKERS= 4 "}, with(func(c *config) { c.Workers, c.Listen = 4, ":8080" })},
		{"WORKERS=auto", []string{"WORKERS=auto"}, with(func(c *config) { c.Workers, c.WorkersAuto, c.Listen = 7, true, ":8080" })},
		{"WORKERS=AUTO", []string{"WORKERS=AUTO"}, with(func(c *config) { c.Workers, c.WorkersAuto, c.Listen = 7, true, ":8080" })},
		{"pool: LISTEN from PORT", []string{"WORKERS=2", "PORT=9000"}, with(func(c *config) { c.Workers, c.Listen = 2, ":9000" })},
		{"pool: LISTEN beats PORT", []string{"WORKERS=2", "PORT=9000", "LISTEN=127.0.0.1:7000"}, with(func(c *config) { c.Workers, c.Listen = 2, "127.0.0.1:7000" })},
		{"pool: LISTEN=none", []string{"WORKERS=2", "LISTEN=none"}, with(func(c *config) { c.Workers = 2 })},
		{"pool: LISTEN=NONE", []string{"WORKERS=2", "LISTEN=NONE", "PORT=9000"}, with(func(c *config) { c.Workers = 2 })},
		{"pool: LISTEN [v6]", []string{"WORKERS=2", "LISTEN=[::1]:8080"}, with(func(c *config) { c.Workers, c.Listen = 2, "[::1]:8080" })},
		{"pool: LISTEN host name", []string{"WORKERS=2", "LISTEN=localhost:80"}, with(func(c *config) { c.Workers, c.Listen = 2, "localhost:80" })},
		{"init: no LISTEN by default", []string{"PORT=9000"}, defaultConfig()},
		{"init: PORT is the app's business", []string{"PORT=abc"}, defaultConfig()},
		{"init: LISTEN as given", []string{"LISTEN=0.0.0.0:8080"}, with(func(c *config) { c.Listen = "0.0.0.0:8080" })},

		{"HEALTH_LISTEN=none", []string{"HEALTH_LISTEN=none"}, with(func(c *config) { c.HealthListen = "" })},
		{"HEALTH_LISTEN v4", []string{"HEALTH_LISTEN=127.0.0.1:9999"}, with(func(c *config) { c.HealthListen = "127.0.0.1:9999" })},
		{"HEALTH_LISTEN v6", []string{"HEALTH_LISTEN=[::]:9999"}, with(func(c *config) { c.HealthListen = "[::]:9999" })},

		// Durations: Go durations or whole seconds.
		{"GRACE_TIMEOUT=10", []string{"GRACE_TIMEOUT=10"}, with(func(c *config) { c.Grace = 10 * time.Second })},
		{"GRACE_TIMEOUT=1m30s", []string{"GRACE_TIMEOUT=1m30s"}, with(func(c *config) { c.Grace = 90 * time.Second })},
		{"GRACE_TIMEOUT=250ms", []string{"GRACE_TIMEOUT=250ms"}, with(func(c *config) { c.Grace = 250 * time.Millisecond })},
		{"DRAIN_DELAY=2", []string{"DRAIN_DELAY=2", "GRACE_TIMEOUT=3"}, with(func(c *config) { c.DrainDelay, c.Grace = 2*time.Second, 3*time.Second })},
		{"DRAIN_DELAY=1500ms", []string{"DRAIN_DELAY=1500ms"}, with(func(c *config) { c.DrainDelay = 1500 * time.Millisecond })},
		{"DRAIN_DELAY just below", []string{"DRAIN_DELAY=8999ms"}, with(func(c *config) { c.DrainDelay = 8999 * time.Millisecond })},
		{"WORKER_TIMEOUT=0 disables", []string{"WORKER_TIMEOUT=0"}, with(func(c *config) { c.WorkerTimeout = 0 })},
		{"WORKER_TIMEOUT=0s", []string{"WORKER_TIMEOUT=0s"}, with(func(c *config) { c.WorkerTimeout = 0 })},
		{"WORKER_TIMEOUT=45", []string{"WORKER_TIMEOUT=45"}, with(func(c *config) { c.WorkerTimeout = 45 * time.Second })},
		{"WORKER_TIMEOUT=2m", []string{"WORKER_TIMEOUT=2m"}, with(func(c *config) { c.WorkerTimeout = 2 * time.Minute })},
		{"WORKER_TIMEOUT=500ms", []string{"WORKER_TIMEOUT=500ms"}, with(func(c *config) { c.WorkerTimeout = 500 * time.Millisecond })},
		{"MAX_WORKER_MEMORY=512MiB", []string{"MAX_WORKER_MEMORY=512MiB"}, with(func(c *config) { c.MaxMemory = 512 << 20 })},
		{"MAX_WORKER_MEMORY=1G", []string{"MAX_WORKER_MEMORY=1G"}, with(func(c *config) { c.MaxMemory = 1e9 })},
		{"MAX_WORKER_MEMORY=1.5Gi", []string{"MAX_WORKER_MEMORY=1.5Gi"}, with(func(c *config) { c.MaxMemory = 3 << 29 })},
		{"MAX_WORKER_MEMORY bytes", []string{"MAX_WORKER_MEMORY=300000000"}, with(func(c *config) { c.MaxMemory = 300000000 })},
		{"MAX_WORKER_MEMORY=100k", []string{"MAX_WORKER_MEMORY=100k"}, with(func(c *config) { c.MaxMemory = 100000 })},
		{"MAX_WORKER_LIFETIME with 10 % jitter", []string{"MAX_WORKER_LIFETIME=1h"}, with(func(c *config) { c.MaxLifetime, c.LifetimeJitter = time.Hour, 6*time.Minute })},
		{"MAX_WORKER_LIFETIME_JITTER", []string{"MAX_WORKER_LIFETIME=3s", "MAX_WORKER_LIFETIME_JITTER=0"}, with(func(c *config) { c.MaxLifetime = 3 * time.Second })},
		{"WORKER_TIMEOUT beyond GRACE_TIMEOUT", []string{"WORKER_TIMEOUT=1h", "GRACE_TIMEOUT=5s"}, with(func(c *config) { c.WorkerTimeout, c.Grace = time.Hour, 5*time.Second })},

		{"STOP_SIGNAL=TERM", []string{"STOP_SIGNAL=TERM"}, defaultConfig()},
		{"STOP_SIGNAL=sigterm", []string{"STOP_SIGNAL=sigterm"}, defaultConfig()},
		{"STOP_SIGNAL=15", []string{"STOP_SIGNAL=15"}, defaultConfig()},
		{"STOP_SIGNAL=SIGQUIT", []string{"STOP_SIGNAL=SIGQUIT"}, with(func(c *config) { c.StopSignal = unix.SIGQUIT })},
		{"STOP_SIGNAL=int", []string{"STOP_SIGNAL=int"}, with(func(c *config) { c.StopSignal = unix.SIGINT })},
		{"STOP_SIGNAL=34", []string{"STOP_SIGNAL=34"}, with(func(c *config) { c.StopSignal = unix.Signal(34) })},
		{"STOP_SIGNAL=64", []string{"STOP_SIGNAL=64"}, with(func(c *config) { c.StopSignal = unix.Signal(64) })},

		{"READY_URL", []string{"READY_URL=http://127.0.0.1:8080/healthz"}, with(func(c *config) { c.ReadyURL = "http://127.0.0.1:8080/healthz" })},

		{"LOG_FORMAT=json", []string{"LOG_FORMAT=json"}, with(func(c *config) { c.LogFormat = "json" })},
		{"LOG_FORMAT=TEXT", []string{"LOG_FORMAT=TEXT"}, with(func(c *config) { c.LogFormat = "text" })},
		{"LOG_LEVEL=debug", []string{"LOG_LEVEL=debug"}, with(func(c *config) { c.LogLevel = slog.LevelDebug })},
		{"LOG_LEVEL=WARN", []string{"LOG_LEVEL=WARN"}, with(func(c *config) { c.LogLevel = slog.LevelWarn })},
		{"LOG_LEVEL=error", []string{"LOG_LEVEL=error"}, with(func(c *config) { c.LogLevel = slog.LevelError })},

		{"the last value counts", []string{"GRACE_TIMEOUT=abc", "GRACE_TIMEOUT=5s"}, with(func(c *config) { c.Grace = 5 * time.Second })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := loadConfig(tc.env, autoCount)
			if len(errs) > 0 {
				t.Fatalf("loadConfig(%q): %v", tc.env, errs)
			}
			if !sameConfig(got, tc.want) {
				t.Errorf("loadConfig(%q)\n got %+v\nwant %+v", tc.env, dropRaw(got), dropRaw(tc.want))
			}
		})
	}
}

func dropRaw(c config) config { c.raw = rawConfig{}; return c }

func TestLoadConfigAutoOnlyWhenAsked(t *testing.T) {
	calls := 0
	count := func() int { calls++; return 3 }
	for _, env := range [][]string{nil, {"WORKERS=2"}} {
		if _, errs := loadConfig(env, count); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	if calls != 0 {
		t.Errorf("the CPU count was read %d times without WORKERS=auto", calls)
	}
	c, errs := loadConfig([]string{"WORKERS=auto"}, count)
	if len(errs) > 0 || c.Workers != 3 || calls != 1 {
		t.Errorf("WORKERS=auto: workers %d, errors %v, %d calls; want 3 workers from one call", c.Workers, errs, calls)
	}
}

// TestLoadConfigErrors: every bad value is an error that names the variable
// and quotes the value, one per bad variable.
func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env []string
		bad []string // the variables named, in any order
	}{
		{[]string{"WORKERS=abc"}, []string{"WORKERS"}},
		{[]string{"WORKERS=0"}, []string{"WORKERS"}},
		{[]string{"WORKERS=-1"}, []string{"WORKERS"}},
		{[]string{"WORKERS=1025"}, []string{"WORKERS"}},
		{[]string{"WORKERS=1.5"}, []string{"WORKERS"}},
		{[]string{"WORKERS=0x10"}, []string{"WORKERS"}},
		{[]string{"WORKERS=autox"}, []string{"WORKERS"}},
		{[]string{"LISTEN=foo"}, []string{"LISTEN"}},
		{[]string{"LISTEN=:99999"}, []string{"LISTEN"}},
		{[]string{"LISTEN=:0"}, []string{"LISTEN"}},
		{[]string{"LISTEN=::1:80"}, []string{"LISTEN"}},
		{[]string{"LISTEN=host:"}, []string{"LISTEN"}},
		{[]string{"LISTEN=:http"}, []string{"LISTEN"}},
		{[]string{"LISTEN=bad_host!:80"}, []string{"LISTEN"}},
		{[]string{"WORKERS=2", "LISTEN=foo"}, []string{"LISTEN"}},
		{[]string{"WORKERS=2", "PORT=abc"}, []string{"PORT"}},
		{[]string{"WORKERS=2", "PORT=0"}, []string{"PORT"}},
		{[]string{"WORKERS=2", "PORT=65536"}, []string{"PORT"}},
		{[]string{"HEALTH_LISTEN=foo"}, []string{"HEALTH_LISTEN"}},
		{[]string{"HEALTH_LISTEN=:99999"}, []string{"HEALTH_LISTEN"}},
		{[]string{"HEALTH_LISTEN=:0"}, []string{"HEALTH_LISTEN"}},
		{[]string{"HEALTH_LISTEN=::1:80"}, []string{"HEALTH_LISTEN"}},
		{[]string{"HEALTH_LISTEN=host:"}, []string{"HEALTH_LISTEN"}},
		{[]string{"GRACE_TIMEOUT=-1"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"GRACE_TIMEOUT=-1s"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"GRACE_TIMEOUT=abc"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"GRACE_TIMEOUT=5x"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"GRACE_TIMEOUT=1.5"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"GRACE_TIMEOUT=0"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"DRAIN_DELAY=-2s"}, []string{"DRAIN_DELAY"}},
		{[]string{"DRAIN_DELAY=abc"}, []string{"DRAIN_DELAY"}},
		{[]string{"DRAIN_DELAY=9s"}, []string{"DRAIN_DELAY"}}, // = the default grace
		{[]string{"DRAIN_DELAY=5", "GRACE_TIMEOUT=5s"}, []string{"DRAIN_DELAY"}},
		{[]string{"DRAIN_DELAY=10s", "GRACE_TIMEOUT=5s"}, []string{"DRAIN_DELAY"}},
		{[]string{"WORKER_TIMEOUT=-1"}, []string{"WORKER_TIMEOUT"}},
		{[]string{"MAX_WORKER_MEMORY=lots"}, []string{"MAX_WORKER_MEMORY"}},
		{[]string{"MAX_WORKER_MEMORY=0"}, []string{"MAX_WORKER_MEMORY"}},
		{[]string{"MAX_WORKER_MEMORY=-1G"}, []string{"MAX_WORKER_MEMORY"}},
		{[]string{"MAX_WORKER_MEMORY=5 parsecs"}, []string{"MAX_WORKER_MEMORY"}},
		{[]string{"MAX_WORKER_LIFETIME=soon"}, []string{"MAX_WORKER_LIFETIME"}},
		{[]string{"MAX_WORKER_LIFETIME_JITTER=1s"}, []string{"MAX_WORKER_LIFETIME_JITTER"}},
		{[]string{"MAX_WORKER_LIFETIME=1h", "MAX_WORKER_LIFETIME_JITTER=-1"}, []string{"MAX_WORKER_LIFETIME_JITTER"}},
		{[]string{"WORKER_TIMEOUT=-5s"}, []string{"WORKER_TIMEOUT"}},
		{[]string{"WORKER_TIMEOUT=abc"}, []string{"WORKER_TIMEOUT"}},
		{[]string{"WORKER_TIMEOUT=1.5"}, []string{"WORKER_TIMEOUT"}},
		{[]string{"WORKER_TIMEOUT=5x"}, []string{"WORKER_TIMEOUT"}},
		{[]string{"WORKER_TIMEOUT=86401"}, []string{"WORKER_TIMEOUT"}},
		{[]string{"STOP_SIGNAL=SIGFOO"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=0"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=99"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=-15"}, []string{"STOP_SIGNAL"}},
		{[]string{"READY_URL=ftp://x"}, []string{"READY_URL"}},
		{[]string{"READY_URL=not a url"}, []string{"READY_URL"}},
		{[]string{"READY_URL=http://"}, []string{"READY_URL"}},
		{[]string{"READY_URL=/healthz"}, []string{"READY_URL"}},
		{[]string{"LOG_FORMAT=xml"}, []string{"LOG_FORMAT"}},
		{[]string{"LOG_LEVEL=verbose"}, []string{"LOG_LEVEL"}},
		{[]string{"LOG_LEVEL=info+2"}, []string{"LOG_LEVEL"}},
		// Durations: at most a day, in either form.
		{[]string{"GRACE_TIMEOUT=25h"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"GRACE_TIMEOUT=86401"}, []string{"GRACE_TIMEOUT"}},
		{[]string{"WORKER_TIMEOUT=24h1s"}, []string{"WORKER_TIMEOUT"}},
		{[]string{"MAX_WORKER_LIFETIME=48h"}, []string{"MAX_WORKER_LIFETIME"}},
		// Signals that cannot stop a worker gracefully.
		{[]string{"STOP_SIGNAL=SIGKILL"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=9"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=SIGSTOP"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=tstp"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=SIGTTIN"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=TTOU"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=SIGCONT"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=SIGCHLD"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=17"}, []string{"STOP_SIGNAL"}},
		{[]string{"STOP_SIGNAL=SIGURG"}, []string{"STOP_SIGNAL"}},
		// A host of digits and dots is an IPv4 address or nothing.
		{[]string{"HEALTH_LISTEN=999.999.999.999:1"}, []string{"HEALTH_LISTEN"}},
		{[]string{"HEALTH_LISTEN=256.0.0.1:8081"}, []string{"HEALTH_LISTEN"}},
		{[]string{"LISTEN=1.2.3:80"}, []string{"LISTEN"}},
		{
			[]string{"WORKERS=abc", "GRACE_TIMEOUT=x", "WORKER_TIMEOUT=-1", "STOP_SIGNAL=FOO", "LOG_FORMAT=xml", "LOG_LEVEL=loud", "LISTEN=foo", "HEALTH_LISTEN=bar", "READY_URL=ftp://x"},
			[]string{"WORKERS", "GRACE_TIMEOUT", "WORKER_TIMEOUT", "STOP_SIGNAL", "LOG_FORMAT", "LOG_LEVEL", "LISTEN", "HEALTH_LISTEN", "READY_URL"},
		},
	} {
		t.Run(strings.Join(tc.env, " "), func(t *testing.T) {
			_, errs := loadConfig(tc.env, autoCount)
			if len(errs) != len(tc.bad) {
				t.Fatalf("loadConfig(%q): %d errors %q, want one for each of %q", tc.env, len(errs), errs, tc.bad)
			}
			values := map[string]string{}
			for _, kv := range tc.env {
				k, v, _ := strings.Cut(kv, "=")
				values[k] = v
			}
			for _, name := range tc.bad {
				want := name + "=" + strconv.Quote(values[name])
				if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), want) }) {
					t.Errorf("no error names %s: %q", want, errs)
				}
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"10", 10 * time.Second, true},
		{"86400", 24 * time.Hour, true},
		{"24h", 24 * time.Hour, true},
		{"1440m", 24 * time.Hour, true},
		{"86401", 0, false},
		{"25h", 0, false},
		{"24h0m0.001s", 0, false},
		{"10s", 10 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"250ms", 250 * time.Millisecond, true},
		{"0s", 0, true},
		{"-1", 0, false},
		{"-1s", 0, false},
		{"1.5", 0, false},
		{"5x", 0, false},
		{"", 0, false},
		{"ten", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want unix.Signal
	}{
		{"SIGTERM", unix.SIGTERM}, {"TERM", unix.SIGTERM}, {"term", unix.SIGTERM}, {"sigterm", unix.SIGTERM},
		{"SigTerm", unix.SIGTERM}, {"15", unix.SIGTERM},
		{"SIGQUIT", unix.SIGQUIT}, {"QUIT", unix.SIGQUIT}, {"3", unix.SIGQUIT},
		{"SIGINT", unix.SIGINT}, {"HUP", unix.SIGHUP}, {"USR1", unix.SIGUSR1}, {"SIGWINCH", unix.SIGWINCH},
		{"SIGKILL", unix.SIGKILL}, // a signal all the same; validate refuses it as STOP_SIGNAL
		{"1", unix.SIGHUP}, {"64", unix.Signal(64)},
		{"SIGFOO", 0}, {"FOO", 0}, {"0", 0}, {"65", 0}, {"99", 0}, {"-15", 0}, {"", 0}, {"SIG", 0},
	} {
		got, err := parseSignal(tc.in)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("parseSignal(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{":8080", true}, {"0.0.0.0:80", true}, {"127.0.0.1:65535", true}, {"[::1]:8080", true}, {"[::]:1", true},
		{"localhost:8080", true}, {"my-host.example.com:443", true},
		{"foo", false}, {":99999", false}, {":0", false}, {"::1:80", false}, {"host:", false}, {":", false},
		{"999.999.999.999:1", false}, {"1.2.3:80", false}, {"256.1.1.1:80", false}, {"1.2.3.4.5:80", false},
		{"1.example:80", true}, {"0x7f.1:80", true}, // names, for the resolver to judge
		{"", false}, {":http", false}, {"[::1]", false}, {"a b:80", false}, {"1.2.3.4:80:90", false},
		{":-1", false},
	} {
		if why := checkAddr(tc.addr); (why == "") != tc.ok {
			t.Errorf("checkAddr(%q) = %q, want ok %v", tc.addr, why, tc.ok)
		}
	}
}

// TestConfigLogValue: the debug line "config loaded" carries every variable.
func TestConfigLogValue(t *testing.T) {
	c, errs := loadConfig([]string{"WORKERS=3", "GRACE_TIMEOUT=10", "WORKER_TIMEOUT=45", "STOP_SIGNAL=quit", "READY_URL=http://x/"}, autoCount)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	kv := c.logValue()
	got := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		got[kv[i].(string)] = kv[i+1]
	}
	for _, name := range []string{
		"WORKERS", "LISTEN", "PORT", "HEALTH_LISTEN", "GRACE_TIMEOUT", "DRAIN_DELAY",
		"WORKER_TIMEOUT", "STOP_SIGNAL", "READY_URL", "LOG_FORMAT", "LOG_LEVEL",
	} {
		if _, ok := got[name]; !ok {
			t.Errorf("config loaded lacks %s: %v", name, kv)
		}
	}
	for name, want := range map[string]any{"GRACE_TIMEOUT": "10s", "WORKER_TIMEOUT": "45s", "STOP_SIGNAL": "SIGQUIT", "WORKERS": "3", "READY_URL": "http://x/"} {
		if got[name] != want {
			t.Errorf("config loaded: %s=%v, want %v", name, got[name], want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		want   invocation
		errHas string // non-empty: an error holding this
	}{
		{args: nil, errHas: "no command"},
		{args: []string{}, errHas: "no command"},
		{args: []string{"--version"}, want: invocation{action: "version"}},
		{args: []string{"-h"}, want: invocation{action: "help"}},
		{args: []string{"--help"}, want: invocation{action: "help"}},
		{args: []string{"--help", "sleep"}, want: invocation{action: "help"}},
		{args: []string{"--", "--help"}, want: invocation{action: "run", argv: []string{"--help"}}},
		{args: []string{"sleep", "-h"}, want: invocation{action: "run", argv: []string{"sleep", "-h"}}},
		{args: []string{"-help"}, errHas: "-help"},
		{args: []string{"--check"}, want: invocation{action: "check", check: "live"}},
		{args: []string{"--check", "live"}, want: invocation{action: "check", check: "live"}},
		{args: []string{"--check", "ready"}, want: invocation{action: "check", check: "ready"}},
		{args: []string{"--check", "bogus"}, errHas: "bogus"},
		{args: []string{"--check", "live", "extra"}, errHas: "--check"},
		{args: []string{"--"}, errHas: "no command"},
		{args: []string{"--", "--weird"}, want: invocation{action: "run", argv: []string{"--weird"}}},
		{args: []string{"--", "--version"}, want: invocation{action: "run", argv: []string{"--version"}}},
		{args: []string{"--", "cmd", "--", "-x"}, want: invocation{action: "run", argv: []string{"cmd", "--", "-x"}}},
		{args: []string{"sleep", "10"}, want: invocation{action: "run", argv: []string{"sleep", "10"}}},
		{args: []string{"cmd", "--version"}, want: invocation{action: "run", argv: []string{"cmd", "--version"}}},
		{args: []string{"cmd", "--"}, want: invocation{action: "run", argv: []string{"cmd", "--"}}},
		{args: []string{"--bogus"}, errHas: "--bogus"},
		{args: []string{"-v"}, errHas: "-v"},
		{args: []string{"-"}, errHas: `"-"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseArgs(tc.args)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("parseArgs(%q) = %+v, %v; want an error holding %q", tc.args, got, err, tc.errHas)
				}
				return
			}
			if err != nil || got.action != tc.want.action || got.check != tc.want.check || !slices.Equal(got.argv, tc.want.argv) {
				t.Fatalf("parseArgs(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
			}
		})
	}
}

// TestREADMEDocumentsEveryVariable: README.md's configuration table lists
// every variable pinit reads (every env tag of rawConfig) with its default,
// and no variable pinit does not read.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := readmeVariables(t, string(readme))

	read := map[string]bool{}
	rt := reflect.TypeFor[rawConfig]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			t.Errorf("rawConfig.%s has no env tag", f.Name)
			continue
		}
		read[name] = true
		def, ok := f.Tag.Lookup("envDefault")
		if name == "HEALTH_LISTEN" {
			def, ok = defaultHealthListen, true
		}
		cell, listed := documented[name]
		switch {
		case !listed:
			t.Errorf("%s is read (rawConfig.%s) but not in README.md's configuration table", name, f.Name)
		case ok && cell != "`"+def+"`":
			t.Errorf("README.md gives %s the default %s, pinit uses %q", name, cell, def)
		}
	}
	for name := range documented {
		if !read[name] {
			t.Errorf("README.md's configuration table lists %s, which pinit does not read", name)
		}
	}
}

// readmeVariables returns the rows of the table under "## Configuration":
// variable name to its default cell as written.
func readmeVariables(t *testing.T, readme string) map[string]string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	vars := map[string]string{}
	for line := range strings.Lines(section) {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		vars[strings.Trim(strings.TrimPrefix(cells[0], "| "), "`")] = cells[1]
	}
	if len(vars) == 0 {
		t.Fatal("no variables found in README.md's configuration table")
	}
	return vars
}

// TestReadyURLReachesItself: a READY_URL that reaches pinit's own health
// server would make /ready ask itself; the application's port is fine.
func TestReadyURLReachesItself(t *testing.T) {
	for _, tc := range []struct {
		ready, health string
		self          bool
	}{
		{"http://127.0.0.1:8081/ready", ":8081", true},
		{"http://localhost:8081/health", ":8081", true},
		{"http://LOCALHOST:8081/", "127.0.0.1:8081", true},
		{"http://[::1]:8081/ready", ":8081", true},
		{"http://127.0.0.5:8081/ready", "0.0.0.0:8081", true},
		{"http://0.0.0.0:8081/", "127.0.0.1:8081", true},
		{"http://[::ffff:127.0.0.1]:8081/", "[::]:8081", true},
		{"http://10.1.2.3:9000/ready", "10.1.2.3:9000", true},
		{"http://myhost:9000/", "MyHost:9000", true},
		{"http://127.0.0.1/", ":80", true},
		{"http://127.0.0.1:8080/healthz", ":8081", false},
		{"http://127.0.0.2:8081/", "127.0.0.1:8081", false},
		{"http://10.1.2.3:8081/", "127.0.0.1:8081", false},
		{"http://app:8081/", ":8081", false},
		{"http://127.0.0.1:8081/", "10.1.2.3:8081", false},
	} {
		u, err := url.Parse(tc.ready)
		if err != nil {
			t.Fatal(err)
		}
		if got := reachesItself(u, tc.health); got != tc.self {
			t.Errorf("reachesItself(%s, HEALTH_LISTEN=%s) = %v, want %v", tc.ready, tc.health, got, tc.self)
		}
	}
	// One line naming READY_URL, none when the health server is off.
	_, errs := loadConfig([]string{"READY_URL=http://127.0.0.1:8081/ready"}, autoCount)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `READY_URL="http://127.0.0.1:8081/ready"`) || !strings.Contains(errs[0].Error(), "HEALTH_LISTEN") {
		t.Errorf("READY_URL at the default HEALTH_LISTEN: %q, want one error naming READY_URL and HEALTH_LISTEN", errs)
	}
	if _, errs := loadConfig([]string{"READY_URL=http://127.0.0.1:8081/ready", "HEALTH_LISTEN=none"}, autoCount); len(errs) != 0 {
		t.Errorf("READY_URL with HEALTH_LISTEN=none: %q, want no error", errs)
	}
}

// TestConfigTrimsEveryValue: one rule for white space, every variable: it is
// dropped, and a value that is then empty is unset. The command's environment
// is not touched.
func TestConfigTrimsEveryValue(t *testing.T) {
	c, errs := loadConfig([]string{
		"WORKERS= 2 ", "LOG_LEVEL=info ", "LOG_FORMAT=\tJSON", "GRACE_TIMEOUT= 10s\n", "DRAIN_DELAY=2 ",
		"STOP_SIGNAL= SIGQUIT", "HEALTH_LISTEN= 127.0.0.1:9000 ", "LISTEN=127.0.0.1:8000 ", "READY_URL= http://127.0.0.1:8000/ ",
		"MAX_WORKER_MEMORY= 1G", "WORKER_TIMEOUT= ",
	}, autoCount)
	if len(errs) > 0 {
		t.Fatalf("errors %q, want none", errs)
	}
	want := config{Workers: 2, LogLevel: slog.LevelInfo, LogFormat: "json", Grace: 10 * time.Second, DrainDelay: 2 * time.Second,
		StopSignal: unix.SIGQUIT, HealthListen: "127.0.0.1:9000", Listen: "127.0.0.1:8000", ReadyURL: "http://127.0.0.1:8000/",
		MaxMemory: 1e9, WorkerTimeout: 30 * time.Second}
	c.raw = rawConfig{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config\n%+v, want\n%+v", c, want)
	}

	// Blank is unset, for WORKERS (init mode) as for LOG_LEVEL (the default).
	c, errs = loadConfig([]string{"WORKERS= ", "LOG_LEVEL=\t", "HEALTH_LISTEN= "}, autoCount)
	if len(errs) > 0 || c.Workers != 0 || c.LogLevel != slog.LevelInfo || c.HealthListen != defaultHealthListen {
		t.Errorf("blank values: workers %d, level %v, health %q, errors %q; want init mode and the defaults", c.Workers, c.LogLevel, c.HealthListen, errs)
	}

	// A bad value is quoted as read, without the white space.
	_, errs = loadConfig([]string{"LOG_LEVEL= verbose "}, autoCount)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `LOG_LEVEL="verbose"`) {
		t.Errorf("LOG_LEVEL=' verbose ': %q, want one error quoting \"verbose\"", errs)
	}
	if got := configValue([]string{"HEALTH_LISTEN= :9000\n"}, "HEALTH_LISTEN"); got != ":9000" {
		t.Errorf("configValue = %q, want %q", got, ":9000")
	}
}
