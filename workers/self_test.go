//go:build linux

package workers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
