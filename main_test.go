package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunStartFailureOnInjectedStderr: a command that is found but fails to
// start (here, its interpreter does not exist) is reported on the stderr
// given to run, not on the process's own. run installs pinit's signal
// handlers and makes the process a subreaper, so it runs in a child copy of
// the test binary (the os/exec tests' helper-process trick), which prints
// what run wrote to the injected writer on its stdout.
func TestRunStartFailureOnInjectedStderr(t *testing.T) {
	if script := os.Getenv("PINIT_TEST_RUN"); script != "" {
		var stderr bytes.Buffer
		code := run([]string{script}, []string{"PATH=/usr/bin:/bin", "LOG_FORMAT=json", "HEALTH_LISTEN=none"}, io.Discard, &stderr)
		os.Stdout.WriteString(stderr.String())
		os.Exit(code)
	}

	script := filepath.Join(t.TempDir(), "bad-interpreter")
	if err := os.WriteFile(script, []byte("#!/no/such/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunStartFailureOnInjectedStderr$")
	cmd.Env = append(os.Environ(), "PINIT_TEST_RUN="+script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Fatalf("exit %v, want 127; stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	if want := "pinit: cannot run " + script; !strings.Contains(stdout.String(), want) {
		t.Errorf("the injected stderr got %q, want a line holding %q", stdout.String(), want)
	}
	if strings.Contains(stderr.String(), "cannot run") {
		t.Errorf("the process's own stderr got %q", stderr.String())
	}
}
