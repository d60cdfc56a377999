package integration

// Configuration, black box: an invalid environment stops pinit before it
// starts anything, with one line per bad variable and exit status 2; valid
// edge cases are accepted and mean what the contract says.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// badConfigs each hold one bad variable: its name first. The others set
// what the bad one needs to be judged (WORKERS for PORT, GRACE_TIMEOUT for
// DRAIN_DELAY).
var badConfigs = [][]string{
	{"WORKERS=abc"},
	{"WORKERS=0"},
	{"WORKERS=-1"},
	{"WORKERS=1025"},
	{"WORKERS=1.5"},
	{"WORKERS=2x"},
	{"GRACE_TIMEOUT=-1"},
	{"GRACE_TIMEOUT=-1s"},
	{"GRACE_TIMEOUT=abc"},
	{"GRACE_TIMEOUT=5x"},
	{"GRACE_TIMEOUT=1.5"},
	{"DRAIN_DELAY=-2s"},
	{"DRAIN_DELAY=abc"},
	{"DRAIN_DELAY=9s"}, // = the default grace
	{"DRAIN_DELAY=5s", "GRACE_TIMEOUT=5s"},
	{"DRAIN_DELAY=10s", "GRACE_TIMEOUT=5"},
	{"WORKER_TIMEOUT=-1"},
	{"WORKER_TIMEOUT=abc"},
	{"MAX_WORKER_MEMORY=lots"},
	{"MAX_WORKER_MEMORY=12XB"},
	{"MAX_WORKER_LIFETIME=-3s"},
	{"MAX_WORKER_LIFETIME_JITTER=1s"},
	{"LISTEN=foo"},
	{"LISTEN=:99999"},
	{"LISTEN=:0"},
	{"LISTEN=::1:80"},
	{"LISTEN=host:"},
	{"LISTEN=foo", "WORKERS=2"},
	{"HEALTH_LISTEN=foo"},
	{"HEALTH_LISTEN=:99999"},
	{"HEALTH_LISTEN=:0"},
	{"HEALTH_LISTEN=::1:80"},
	{"HEALTH_LISTEN=host:"},
	{"STOP_SIGNAL=SIGFOO"},
	{"STOP_SIGNAL=0"},
	{"STOP_SIGNAL=99"},
	{"LOG_LEVEL=verbose"},
	{"LOG_FORMAT=xml"},
	{"READY_URL=ftp://x"},
	{"READY_URL=not a url"},
	// pinit's own health server: /ready would ask itself.
	{"READY_URL=http://127.0.0.1:18081/ready", "HEALTH_LISTEN=127.0.0.1:18081"},
	{"READY_URL=http://localhost:18082/health", "HEALTH_LISTEN=:18082"},
	// At most a day; signals that cannot stop a worker gracefully; an IPv4
	// address out of range is no host name either.
	{"GRACE_TIMEOUT=25h"},
	{"WORKER_TIMEOUT=1441m"},
	{"STOP_SIGNAL=SIGKILL"},
	{"STOP_SIGNAL=SIGSTOP"},
	{"STOP_SIGNAL=SIGCHLD"},
	{"STOP_SIGNAL=CONT"},
	{"STOP_SIGNAL=SIGTTIN"},
	{"STOP_SIGNAL=SIGTSTP"},
	{"STOP_SIGNAL=SIGURG"},
	{"HEALTH_LISTEN=999.999.999.999:1"},
	{"LISTEN=999.999.999.999:1", "WORKERS=2"},
	{"PORT=abc", "WORKERS=2"},
	{"PORT=99999", "WORKERS=2"},
}

// envOf turns VAR=value strings into start's map, and says what each is.
func envOf(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// markerCommand is a command that creates a file: if it exists, the child ran.
func markerCommand(t *testing.T) (marker string, argv []string) {
	marker = filepath.Join(t.TempDir(), "started")
	return marker, []string{"touch", marker}
}

func childRan(marker string) bool {
	_, err := os.Stat(marker)
	return err == nil
}

// checkRejected checks pinit's refusal: exit 2, one stderr line per bad
// variable naming it and quoting its value, and no child.
func checkRejected(t *testing.T, p *pinit, code int, marker string, bad map[string]string) {
	t.Helper()
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	lines := stderrLines(p)
	if len(lines) != len(bad) {
		t.Errorf("%d stderr lines, want one per bad variable %v: %q", len(lines), bad, lines)
	}
	for name, value := range bad {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, name+"=") && strings.Contains(l, strconv.Quote(value)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lines name %s and quote %q, want 1: %q", n, name, value, lines)
		}
	}
	if childRan(marker) {
		t.Errorf("the child was started")
	}
	if p.stdout.String() != "" {
		t.Errorf("stdout %q, want nothing", p.stdout.String())
	}
}

func TestConfigRejected(t *testing.T) {
	for _, kvs := range badConfigs {
		t.Run(strings.Join(kvs, " "), func(t *testing.T) {
			t.Parallel()
			marker, argv := markerCommand(t)
			env := envOf(kvs)
			name, value, _ := strings.Cut(kvs[0], "=")
			p, code := run(t, opts{pidns: true, env: env}, argv...)
			checkRejected(t, p, code, marker, map[string]string{name: value})
		})
	}
}

func TestConfigSeveralBad(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"WORKERS": "abc", "GRACE_TIMEOUT": "soon", "STOP_SIGNAL": "SIGFOO", "LISTEN": "::1:80",
		"HEALTH_LISTEN": "host:", "LOG_LEVEL": "verbose", "LOG_FORMAT": "xml", "READY_URL": "ftp://x",
	}
	marker, argv := markerCommand(t)
	p, code := run(t, opts{pidns: true, env: bad}, argv...)
	checkRejected(t, p, code, marker, bad)
}

// TestConfigRejectedBeforeCommandLookup: a bad environment is reported as
// such, even with a command that does not exist.
func TestConfigRejectedBeforeCommandLookup(t *testing.T) {
	t.Parallel()
	p, code := run(t, opts{env: map[string]string{"WORKERS": "0"}}, "no-such-command-for-pinit")
	checkRejected(t, p, code, filepath.Join(t.TempDir(), "none"), map[string]string{"WORKERS": "0"})
}

// TestConfigAccepted: edge cases that are valid, and what pinit makes of
// them, as its debug line "config loaded" says. The child runs (init mode).
func TestConfigAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want map[string]any // fields of "config loaded"
	}{
		{"WORKERS empty is init mode", map[string]string{"WORKERS": ""}, map[string]any{"workers": 0.0, "listen": ""}},
		{"WORKERS blank is init mode", map[string]string{"WORKERS": " "}, map[string]any{"workers": 0.0}},
		{"GRACE_TIMEOUT in whole seconds", map[string]string{"GRACE_TIMEOUT": "10"}, map[string]any{"GRACE_TIMEOUT": "10s"}},
		{"GRACE_TIMEOUT Go duration", map[string]string{"GRACE_TIMEOUT": "1m30s"}, map[string]any{"GRACE_TIMEOUT": "1m30s"}},
		{"GRACE_TIMEOUT empty is the default", map[string]string{"GRACE_TIMEOUT": ""}, map[string]any{"GRACE_TIMEOUT": "9s"}},
		{"DRAIN_DELAY below GRACE_TIMEOUT", map[string]string{"DRAIN_DELAY": "2", "GRACE_TIMEOUT": "3"}, map[string]any{"DRAIN_DELAY": "2s", "GRACE_TIMEOUT": "3s"}},
		{"WORKER_TIMEOUT=0 disables", map[string]string{"WORKER_TIMEOUT": "0"}, map[string]any{"WORKER_TIMEOUT": "0s"}},
		{"WORKER_TIMEOUT in whole seconds", map[string]string{"WORKER_TIMEOUT": "45"}, map[string]any{"WORKER_TIMEOUT": "45s"}},
		{"MAX_WORKER_MEMORY with a unit", map[string]string{"MAX_WORKER_MEMORY": "512MiB"}, map[string]any{"MAX_WORKER_MEMORY": float64(512 << 20)}},
		{"MAX_WORKER_LIFETIME with its default jitter", map[string]string{"MAX_WORKER_LIFETIME": "1h"}, map[string]any{"MAX_WORKER_LIFETIME": "1h0m0s", "MAX_WORKER_LIFETIME_JITTER": "6m0s"}},
		{"WORKER_TIMEOUT empty is the default", map[string]string{"WORKER_TIMEOUT": ""}, map[string]any{"WORKER_TIMEOUT": "30s"}},
		{"STOP_SIGNAL=15", map[string]string{"STOP_SIGNAL": "15"}, map[string]any{"STOP_SIGNAL": "SIGTERM"}},
		{"STOP_SIGNAL=TERM", map[string]string{"STOP_SIGNAL": "TERM"}, map[string]any{"STOP_SIGNAL": "SIGTERM"}},
		{"STOP_SIGNAL=sigterm", map[string]string{"STOP_SIGNAL": "sigterm"}, map[string]any{"STOP_SIGNAL": "SIGTERM"}},
		{"STOP_SIGNAL=SIGQUIT", map[string]string{"STOP_SIGNAL": "SIGQUIT"}, map[string]any{"STOP_SIGNAL": "SIGQUIT"}},
		{"LISTEN [v6]:port", map[string]string{"LISTEN": "[::1]:8080"}, map[string]any{"listen": "[::1]:8080"}},
		{"LISTEN=none", map[string]string{"LISTEN": "none"}, map[string]any{"listen": ""}},
		{"PORT is not read in init mode", map[string]string{"PORT": "abc"}, map[string]any{"listen": ""}},
		{"HEALTH_LISTEN=none", map[string]string{"HEALTH_LISTEN": "none"}, map[string]any{"HEALTH_LISTEN": "none"}},
		{"READY_URL", map[string]string{"READY_URL": "http://127.0.0.1:1/healthz"}, map[string]any{"READY_URL": "http://127.0.0.1:1/healthz"}},
		{"LOG_FORMAT in capitals", map[string]string{"LOG_FORMAT": "JSON"}, nil},
		{"LOG_LEVEL in capitals", map[string]string{"LOG_LEVEL": "DEBUG"}, nil},
		// One rule for white space, every variable: dropped; blank is unset.
		{"values are trimmed", map[string]string{"LOG_LEVEL": "debug ", "GRACE_TIMEOUT": " 10s\n", "LOG_FORMAT": "\tjson", "STOP_SIGNAL": " INT"},
			map[string]any{"GRACE_TIMEOUT": "10s", "STOP_SIGNAL": "SIGINT", "LOG_LEVEL": "debug"}},
		{"STOP_SIGNAL=SIGWINCH (Apache httpd's graceful stop)", map[string]string{"STOP_SIGNAL": "SIGWINCH"}, map[string]any{"STOP_SIGNAL": "SIGWINCH"}},
		{"GRACE_TIMEOUT of a day", map[string]string{"GRACE_TIMEOUT": "24h"}, map[string]any{"GRACE_TIMEOUT": "24h0m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"LOG_LEVEL": "debug"}
			for k, v := range tc.env {
				env[k] = v
			}
			marker, argv := markerCommand(t)
			p, code := run(t, opts{pidns: true, env: env}, argv...)
			if code != 0 {
				t.Fatalf("exit %d, want 0", code)
			}
			if !childRan(marker) {
				t.Fatalf("the child did not run")
			}
			cfg := p.firstLog("config loaded")
			if cfg == nil {
				t.Fatalf(`no "config loaded" line`)
			}
			if p.firstLog("child started") == nil {
				t.Errorf(`no "child started" line: not init mode?`)
			}
			for k, want := range tc.want {
				if cfg[k] != want {
					t.Errorf("config loaded: %s=%#v, want %#v (%v)", k, cfg[k], want, cfg)
				}
			}
		})
	}
}

// TestConfigMarkerWorks is the positive control of the marker: with a good
// environment the same command does create it, so its absence means something.
func TestConfigMarkerWorks(t *testing.T) {
	t.Parallel()
	marker, argv := markerCommand(t)
	_, code := run(t, opts{pidns: true}, argv...)
	if code != 0 || !childRan(marker) {
		t.Fatalf("exit %d, marker created %v; want 0 and the marker", code, childRan(marker))
	}
}
