// Package integration holds pinit's black-box tests. TestMain builds the
// pinit binary and the test worker (testdata/testworker) once; each test runs
// pinit the way a container runtime does, with a fully explicit environment,
// usually as PID 1 of a fresh PID namespace (unshare --pid --fork
// --mount-proc), and steps through phases: send a signal, expect a log line,
// an HTTP status, an exit code. Output is captured and shown only when a test
// fails; conditions are polled with deadlines, never waited for with sleeps.
package integration
