//go:build linux

package pid1

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Proc describes a process to start.
type Proc struct {
	Path  string    // resolved executable (see Resolve)
	Argv  []string  // argv, Argv[0] included
	Env   []string  // the whole environment
	Files []uintptr // fds of the child: index i becomes fd i; nothing else is inherited
	// Foreground makes the child's process group the foreground group of the
	// terminal on fd 0, so that it reads the terminal and gets ^C (docker run -it).
	// Once the terminal has taken it, pinit ignores SIGTTIN and SIGTTOU, which
	// its own writes to the terminal would raise (see ignoreJobControl).
	Foreground bool
}

// Start forks and execs p in a new process group whose id is the child's pid,
// and returns the pid. It never waits for the child: its exit reaches the
// caller through Reap. Every fd pinit opens is close-on-exec, so the child
// gets exactly p.Files.
func Start(p Proc) (int, error) {
	attr := &syscall.ProcAttr{
		Env:   p.Env,
		Files: p.Files,
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	if p.Foreground {
		attr.Sys.Foreground = true
		attr.Sys.Ctty = 0
	}
	pid, err := syscall.ForkExec(p.Path, p.Argv, attr)
	if err != nil && p.Foreground {
		// The terminal would not take the new group (fd 0 is a terminal
		// but not ours to hand over): run the child in the background
		// rather than not at all, as tini does.
		attr.Sys.Foreground = false
		pid, err = syscall.ForkExec(p.Path, p.Argv, attr)
	}
	if err != nil {
		return 0, &StartError{Path: p.Path, Err: err}
	}
	if attr.Sys.Foreground {
		// The terminal took the child's group; pinit is in the background
		// of its own terminal now, and the child has been exec'd with
		// SIGTTIN and SIGTTOU as pinit found them.
		ignoreJobControl()
	}
	return pid, nil
}

// StartError is a failure to start a command; Code says which exit status
// pinit reports for it.
type StartError struct {
	Path string
	Err  error
}

func (e *StartError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }
func (e *StartError) Unwrap() error { return e.Err }

// Code is 127 when the command (or its interpreter) does not exist, 126 when
// it exists but cannot be executed.
func (e *StartError) Code() int {
	if errors.Is(e.Err, unix.ENOENT) || errors.Is(e.Err, fs.ErrNotExist) {
		return ExitNotFound
	}
	return ExitNotExecutable
}

// Resolve finds name the way a shell does: a name with a slash is used as it
// is; otherwise the first executable regular file of that name in the PATH of
// env. A name found only as non-executable files is a 126, not a 127.
func Resolve(name string, env []string) (string, error) {
	if name == "" {
		return "", &StartError{Path: name, Err: unix.ENOENT}
	}
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	var denied error
	for _, dir := range filepath.SplitList(lookupEnv(env, "PATH")) {
		if dir == "" {
			dir = "."
		}
		path := filepath.Join(dir, name)
		err := checkExecutable(path)
		if err == nil {
			return path, nil
		}
		var se *StartError
		if denied == nil && errors.As(err, &se) && se.Code() == ExitNotExecutable && !errors.Is(err, unix.EISDIR) {
			denied = err // a shell skips directories in PATH, but not files it may not run
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &StartError{Path: name, Err: fmt.Errorf("not found in PATH (%w)", unix.ENOENT)}
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = unix.ENOENT
		}
		return &StartError{Path: path, Err: err}
	}
	if fi.IsDir() {
		return &StartError{Path: path, Err: unix.EISDIR}
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return &StartError{Path: path, Err: err}
	}
	return nil
}

func lookupEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}
