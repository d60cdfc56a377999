package integration

// What a person sees of pinit from a shell: the version it reports. (Help
// and usage are in TestInitInvocation.)

import (
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
