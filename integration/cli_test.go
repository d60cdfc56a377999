package integration

// What a person sees of pinit from a shell: the version it reports, and its
// first log line, which says which pid to signal. (Help, usage and the
// one-line start failures are in TestInitInvocation, TestInitExitCodes,
// TestPoolBindConflict and TestHealthCheckCommand.)

import (
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// versionOf runs bin --version and returns the version it prints.
func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	v, ok := strings.CutPrefix(string(out), "pinit ")
	if !ok || !strings.HasSuffix(v, "\n") || strings.Count(v, "\n") != 1 || strings.ContainsAny(strings.TrimSuffix(v, "\n"), " \t") {
		t.Fatalf("%s --version printed %q, want one line: pinit <version>", bin, out)
	}
	return strings.TrimSuffix(v, "\n")
}

// TestVersionFromCheckout: pinit built from a git checkout as a user builds
// it (plain go build, no -ldflags) reports the commit it was built from,
// which Go embeds in the binary, not "dev". The binary is built here with
// -buildvcs=auto, go build's default, whatever GOFLAGS says.
func TestVersionFromCheckout(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "pinit")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "..")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "VCS") {
			t.Skipf("go cannot read this checkout's VCS status: %v\n%s", err, out)
		}
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var rev string
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			rev = s.Value
		}
	}
	if rev == "" {
		t.Skip("go embedded no VCS information: the source is not a git checkout, or a linked " +
			"git worktree, where go does not look (golang/go#58218); a clone has it")
	}
	v := versionOf(t, bin)
	if v == "dev" || !strings.Contains(v, rev[:12]) {
		t.Errorf("pinit --version = %q, want the commit it was built from, %s", v, rev[:12])
	}
}

// TestStartedLine: pinit's first log line gives its own pid, as seen from
// where it runs (1 as PID 1 of a container), its version and its mode.
func TestStartedLine(t *testing.T) {
	want := versionOf(t, pinitBin)
	for _, tc := range []struct {
		name  string
		pool  bool
		pidns bool
	}{
		{"init as PID 1", false, true},
		{"init as subreaper", false, false},
		{"pool", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p *pinit
			mode := "init"
			if tc.pool {
				p = startPool(t, testWorker("serve"), nil).pinit
				mode = "pool"
			} else {
				p = start(t, opts{pidns: tc.pidns}, workerBin, "signals")
			}
			first := p.waitLogs("", 1, 10*time.Second, nil)[0]
			if first.str("msg") != "pinit started" {
				t.Fatalf("first log line %v, want pinit started", first)
			}
			pid := p.pid()
			if tc.pidns {
				pid = 1
			}
			if first.num("pid") != pid || first.str("version") != want || first.str("mode") != mode || first.str("level") != "INFO" {
				t.Errorf("pinit started %v: want pid %d, version %q, mode %s, at INFO", first, pid, want, mode)
			}
		})
	}
}
