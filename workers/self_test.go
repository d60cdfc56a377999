//go:build linux

package workers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The stub raises its own oom_score_adj above pinit's, within the kernel's range.
func TestRaiseOOMScore(t *testing.T) {
	for _, tc := range []struct{ pinit, want string }{
		{"0\n", "1000"}, {"-997\n", "3"}, {"-1000\n", "0"}, {"500\n", "1000"}, {"1000\n", "1000"},
	} {
		file := filepath.Join(t.TempDir(), "oom_score_adj")
		if err := os.WriteFile(file, []byte(tc.pinit), 0o600); err != nil {
			t.Fatal(err)
		}
		raiseOOMScore(file)
		if got, _ := os.ReadFile(file); string(got) != tc.want {
			t.Errorf("pinit's %q: the worker's is %q, want %q", strings.TrimSpace(tc.pinit), got, tc.want)
		}
	}
	raiseOOMScore(filepath.Join(t.TempDir(), "missing")) // no /proc: nothing, no panic
}

// Without /proc/self/exe, the stub re-runs pinit by the path it was started by.
func TestSelfPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pinit")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(dir, "proc-self-exe")
	if err := os.Symlink(exe, proc); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-proc", "self", "exe")
	env := []string{"PATH=/nonexistent:" + dir}
	t.Chdir(dir)
	for _, tc := range []struct{ name, procExe, argv0, want string }{
		{"/proc mounted", proc, "whatever", proc},
		{"absolute argv[0]", missing, exe, exe},
		{"relative argv[0]", missing, "./pinit", exe},
		{"name in PATH", missing, "pinit", exe},
	} {
		got, err := selfPath(tc.procExe, tc.argv0, env)
		if err != nil || got != tc.want {
			t.Errorf("%s: selfPath = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	_, err := selfPath(missing, "pinit-is-nowhere", env)
	if err == nil || !strings.Contains(err.Error(), "mount /proc") || !strings.Contains(err.Error(), "pinit-is-nowhere") {
		t.Errorf("selfPath with nothing to find: %v, want an error naming argv[0] and saying to mount /proc", err)
	}
}
