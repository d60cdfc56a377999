// Package pid1 does the duties of a container's first process. It lives in
// the folder init/ because that is the job's name; Go reserves the identifier
// init for functions, so the package is named pid1 and main imports it once as
//
//	pid1 "github.com/pinit/pinit/init"
//
// # Linux behaviour it deals with
//
// PID 1 is special in a PID namespace. The kernel never applies a default
// signal action to it: SIGTERM or SIGINT sent to a PID 1 that has no handler
// for them is silently dropped, which is why `docker stop` waits its full 10 s
// on a shell or an interpreter run as PID 1. pinit installs a handler for every
// catchable signal (Notify) and decides itself what each one means.
//
// Every process whose parent exits is re-parented to PID 1 (or to the nearest
// ancestor that registered as a child subreaper with
// prctl(PR_SET_CHILD_SUBREAPER)). When such an orphan exits it stays a zombie,
// holding its PID and its process-table slot, until PID 1 waits for it. pinit
// registers as a subreaper when it is not PID 1 (Subreaper), so the same holds
// when it runs under another init, for example in tests.
//
// SIGCHLD coalesces: the kernel keeps at most one pending SIGCHLD, so one
// delivery may stand for many exits. Reap therefore loops on
// wait4(-1, WNOHANG) until it returns 0 (children remain, none exited) or
// ECHILD (no children at all), and returns every exit it collected.
//
// A terminal has one foreground process group. When fd 0 is pinit's
// controlling terminal (docker run -it), Start makes the child's group the
// foreground one, so that the child reads the terminal and ^C reaches it; that
// leaves pinit in the background of its own terminal. There, with TOSTOP set
// on the terminal (stty tostop), each write pinit makes to it raises SIGTTOU on
// pinit's process group, and a read SIGTTIN. A caught SIGTTOU does not let the
// write through: the write is restarted after the handler and raises it again.
// An ignored one does. (When pinit's process group is orphaned, as it is when
// pinit leads its session, the write fails with EIO instead, again unless
// SIGTTOU is ignored.) So once the child has the terminal, pinit ignores both
// signals, as tini does, rather than catch and forward them.
//
// A write to a pipe blocks while the pipe is full, for as long as its reader
// does not read: stderr is such a pipe under Docker, whose blocking log mode
// stops reading while a slow log driver catches up. A write to a pipe or
// socket whose reader is gone fails with EPIPE and raises SIGPIPE in the
// thread that wrote. PID 1 must not stop supervising for the one, nor pass
// the other on to its child as if someone had sent it: Output handles both.
//
// There is exactly one waiter in pinit: Reap. Nothing else calls wait4 or
// Cmd.Wait on a child. A second waiter would race with wait4(-1) and one of
// the two would lose the child's exit status, which pinit must pass on. This is
// also why pinit does not use hashicorp/go-reap: it waits with wait4(-1) and
// drops the statuses it collects.
//
// # What it provides
//
// Notify subscribes to every catchable signal on one buffered channel, but
// SIGURG and SIGPROF, which the Go runtime keeps, and, in init mode, those
// ignored when pinit started, which stay ignored for the child too;
// Forwardable says which of them are passed on to children. Start forks and
// execs a child in its own process group without ever waiting for it.
// Resolve looks a command up in PATH the way a shell does, to tell 127 (not
// found) from 126 (not executable). Child supervises the one child of init
// mode: forwards signals, kills its process group when the grace runs out,
// and turns its wait status into pinit's exit status (ExitCode). Output is
// where pinit's log lines go: a bounded queue in front of stderr that never
// blocks its writers.
package pid1
