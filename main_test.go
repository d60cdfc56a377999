package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// TestCheckHint: a refused --check names HEALTH_LISTEN and the address it
// asked; any other failure is reported as it is.
func TestCheckHint(t *testing.T) {
	refused := fmt.Errorf("check: %w", &url.Error{Op: "Get", URL: "http://127.0.0.1:9/health",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}})
	for _, tc := range []struct {
		name, healthListen string
		err                error
		want               []string // substrings of the message
	}{
		{"refused, set", "127.0.0.1:9", refused, []string{"connection refused", "http://127.0.0.1:9/health", `HEALTH_LISTEN, here "127.0.0.1:9"`}},
		{"refused, unset", "", refused, []string{"connection refused", "HEALTH_LISTEN, unset here: the default :8081"}},
		{"other", "", errors.New("check http://x/health: no answer within 2s"), []string{"no answer within 2s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkHint(tc.err, tc.healthListen).Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("checkHint = %q, want it to hold %q", got, w)
				}
			}
			if tc.name == "other" && got != tc.err.Error() {
				t.Errorf("checkHint = %q, want the error unchanged", got)
			}
		})
	}
}
