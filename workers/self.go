//go:build linux

package workers

import (
	"fmt"
	"os"
	"path/filepath"

	pid1 "github.com/pinit/pinit/init"
)

// procSelfExe names the binary this process runs from.
const procSelfExe = "/proc/self/exe"

// selfPath is the path the exec stub re-runs pinit by: procExe
// (/proc/self/exe), which names the very binary pinit runs from even if its
// file has been replaced or removed since. Without /proc mounted (a sandbox,
// a container with a minimal mount table) it is the path pinit was started
// by, found the way the shell or runtime that started it found it: argv0
// when it has a slash, made absolute (pinit never changes its working
// directory), otherwise the first executable of that name in env's PATH.
// New calls it first, before anything could move the file; it is an error,
// saying what to do, when neither works.
func selfPath(procExe, argv0 string, env []string) (string, error) {
	procErr := func() error { _, err := os.Stat(procExe); return err }()
	if procErr == nil {
		return procExe, nil
	}
	path, err := pid1.Resolve(argv0, env)
	if err == nil {
		path, err = filepath.Abs(path)
	}
	if err != nil {
		return "", fmt.Errorf("cannot find pinit's own executable to start the workers with "+
			"(%v; argv[0] %q: %v): mount /proc, or start pinit by its full path", procErr, argv0, err)
	}
	return path, nil
}
