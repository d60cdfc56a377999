//go:build linux

package pid1

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Wait statuses as the kernel encodes them: an exit code in bits 8-15, a
// killing signal in bits 0-6 (bit 7: core dumped), 0x7f for a stopped process.
func exited(code int) unix.WaitStatus          { return unix.WaitStatus(code << 8) }
func signaled(sig unix.Signal) unix.WaitStatus { return unix.WaitStatus(sig) }

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws   unix.WaitStatus
		want int
	}{
		{"exited 0", exited(0), 0},
		{"exited 3", exited(3), 3},
		{"exited 126", exited(126), 126},
		{"exited 255", exited(255), 255},
		{"SIGKILL", signaled(unix.SIGKILL), 137},
		{"SIGTERM", signaled(unix.SIGTERM), 143},
		{"SIGINT", signaled(unix.SIGINT), 130},
		{"SIGHUP", signaled(unix.SIGHUP), 129},
		{"SIGSEGV with core", signaled(unix.SIGSEGV) | 0x80, 139},
		{"SIGRTMIN+3", signaled(unix.Signal(37)), 165},
		{"stopped is no exit", unix.WaitStatus(0x7f | int(unix.SIGSTOP)<<8), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.ws); got != tc.want {
				t.Errorf("ExitCode(%#x) = %d, want %d", uint32(tc.ws), got, tc.want)
			}
			if got := (Exit{PID: 42, Status: tc.ws}).Code(); got != tc.want {
				t.Errorf("Exit.Code() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestExitConstants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"ExitUsage", ExitUsage, 2},
		{"ExitNotExecutable", ExitNotExecutable, 126},
		{"ExitNotFound", ExitNotFound, 127},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestStatusAttr(t *testing.T) {
	for _, tc := range []struct {
		ws   unix.WaitStatus
		want string
	}{
		{exited(0), "exit_code=0"},
		{exited(3), "exit_code=3"},
		{signaled(unix.SIGKILL), "signal=SIGKILL"},
		{signaled(unix.SIGTERM), "signal=SIGTERM"},
	} {
		if got := StatusAttr(tc.ws).String(); got != tc.want {
			t.Errorf("StatusAttr(%#x) = %s, want %s", uint32(tc.ws), got, tc.want)
		}
	}
}

func TestStartErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{unix.ENOENT, 127},
		{fs.ErrNotExist, 127},
		{fmt.Errorf("not found in PATH (%w)", unix.ENOENT), 127},
		{unix.EACCES, 126},
		{unix.ENOEXEC, 126},
		{unix.EISDIR, 126},
		{unix.EPERM, 126},
	} {
		se := &StartError{Path: "/x/cmd", Err: tc.err}
		if got := se.Code(); got != tc.want {
			t.Errorf("StartError{%v}.Code() = %d, want %d", tc.err, got, tc.want)
		}
		if !errors.Is(se, tc.err) {
			t.Errorf("StartError{%v} does not unwrap to its cause", tc.err)
		}
	}
}

// TestStartCode checks Start's errors against real execve failures: a
// missing file, a file that is not executable, and an executable file in no
// format the kernel knows.
func TestStartCode(t *testing.T) {
	dir := t.TempDir()
	plain := writeFile(t, dir, "plain", "hello\n", 0o644)
	garbage := writeFile(t, dir, "garbage", "\x00\x01\x02\x03 not a program\n", 0o755)
	badInterp := writeFile(t, dir, "bad-interp", "#!/nonexistent/interpreter\n", 0o755)
	for _, tc := range []struct {
		path string
		want int
	}{
		{filepath.Join(dir, "missing"), 127},
		{plain, 126},
		{garbage, 126},   // ENOEXEC
		{badInterp, 127}, // ENOENT: the interpreter is missing, as in a shell
		{dir, 126},
	} {
		pid, err := Start(Proc{Path: tc.path, Argv: []string{tc.path}})
		if err == nil {
			t.Fatalf("Start(%s) started pid %d, want an error", tc.path, pid)
		}
		var se *StartError
		if !errors.As(err, &se) {
			t.Fatalf("Start(%s) = %v (%T), want a *StartError", tc.path, err, err)
		}
		if got := se.Code(); got != tc.want {
			t.Errorf("Start(%s): %v: Code() = %d, want %d", tc.path, err, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	bin1 := mkdir(t, dir, "bin1")
	bin2 := mkdir(t, dir, "bin2")
	exe := writeFile(t, bin2, "tool", "#!/bin/sh\n", 0o755)
	writeFile(t, bin1, "tool", "not executable\n", 0o644) // shadowed: skipped like a shell does
	noexec := writeFile(t, bin1, "noexec", "#!/bin/sh\n", 0o644)
	mkdir(t, bin1, "adir")
	writeFile(t, dir, "cwdtool", "#!/bin/sh\n", 0o755)

	path := func(dirs ...string) []string {
		p := ""
		for i, d := range dirs {
			if i > 0 {
				p += ":"
			}
			p += d
		}
		return []string{"HOME=/", "PATH=" + p}
	}
	for _, tc := range []struct {
		name    string
		cmd     string
		env     []string
		want    string // resolved path when code is 0
		code    int
		chdirTo string
	}{
		{name: "slash: executable", cmd: exe, env: path(), want: exe},
		{name: "slash: missing", cmd: filepath.Join(dir, "missing"), env: path(bin2), code: 127},
		{name: "slash: not executable", cmd: noexec, env: path(), code: 126},
		{name: "slash: directory", cmd: bin1, env: path(), code: 126},
		{name: "slash: relative", cmd: "bin2/tool", env: path(), want: "bin2/tool", chdirTo: dir},
		{name: "PATH search", cmd: "tool", env: path(bin2), want: exe},
		{name: "PATH: skips non-executable", cmd: "tool", env: path(bin1, bin2), want: exe},
		{name: "PATH: missing dir skipped", cmd: "tool", env: path(filepath.Join(dir, "nope"), bin2), want: exe},
		{name: "PATH: only non-executable", cmd: "noexec", env: path(bin1, bin2), code: 126},
		{name: "PATH: missing", cmd: "nosuchcommand", env: path(bin1, bin2), code: 127},
		{name: "PATH: unset", cmd: "tool", env: []string{"HOME=/"}, code: 127},
		{name: "PATH: the last value counts", cmd: "tool", env: append(path(bin1), "PATH="+bin2), want: exe},
		{name: "PATH: empty element is the cwd", cmd: "cwdtool", env: path(bin1, ""), want: "cwdtool", chdirTo: dir},
		{name: "empty name", cmd: "", env: path(bin2), code: 127},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.chdirTo != "" {
				t.Chdir(tc.chdirTo)
			}
			got, err := Resolve(tc.cmd, tc.env)
			if tc.code == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tc.cmd, got, err, tc.want)
				}
				return
			}
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("Resolve(%q) = %q, %v; want a *StartError with code %d", tc.cmd, got, err, tc.code)
			}
			if se.Code() != tc.code {
				t.Fatalf("Resolve(%q): %v: code %d, want %d", tc.cmd, err, se.Code(), tc.code)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func mkdir(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
