// Command pinit is a tiny PID 1 for containers: it reaps zombies, forwards
// signals and passes on exit codes like tini, and, with WORKERS set, runs a
// pool of pre-forked workers on one SO_REUSEPORT port like Gunicorn's arbiter.
// See README.md and the package docs of init/, workers/ and health/.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
	pid1 "github.com/pinit/pinit/init"
	"github.com/pinit/pinit/workers"
)

const usage = `usage: pinit [--] CMD [ARG...]    run CMD as PID 1 (WORKERS=N: as a pool of N workers)
       pinit --check [live|ready]  GET /health or /ready from the local health server; exit 0 on 200
       pinit --version             print the version
       pinit -h, --help            print this help
Configured by environment variables: WORKERS, LISTEN, PORT, HEALTH_LISTEN, GRACE_TIMEOUT,
DRAIN_DELAY, WORKER_TIMEOUT, STOP_SIGNAL, READY_URL, LOG_FORMAT, LOG_LEVEL (see the README).
`

// checkTimeout bounds `pinit --check` as a whole.
const checkTimeout = 2 * time.Second

// exitFlush is how long pinit, on its way out, waits for stderr to take the
// log lines still queued when stderr's reader stalls. It is short: stderr's reader may be stalled or
// gone, and the platform's stop window (Docker kills 10 s after SIGTERM)
// leaves the default GRACE_TIMEOUT a second.
const exitFlush = 500 * time.Millisecond

func main() { os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr)) }

// run decides pinit's exit status; nothing below it exits the process.
func run(args, environ []string, stdout, stderr io.Writer) int {
	if workers.IsExecStub(environ) {
		return workers.ExecStub(environ, stderr) // returns only if the exec failed
	}
	cmd, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "pinit: %v\n%s", err, usage)
		return pid1.ExitUsage
	}
	switch cmd.action {
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version":
		fmt.Fprintln(stdout, "pinit", buildVersion())
		return 0
	case "check":
		return check(cmd.check, environ, stderr)
	}

	cfg, errs := loadConfig(environ, workers.AutoCount)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "pinit: %v\n", err)
		}
		return pid1.ExitUsage
	}
	path, err := pid1.Resolve(cmd.argv[0], environ)
	if err != nil {
		return startFailed(stderr, err)
	}
	// From here on, stderr is written through out, which never blocks:
	// PID 1 never waits for stderr's reader.
	out := pid1.NewOutput(stderr)
	defer out.Close(exitFlush)
	log := newLogger(cfg, out, isTerminal(stderr))
	out.OnDropped(func(n int) { log.Warn("log lines dropped", "count", n) })
	if cfg.Workers == 0 {
		return runInit(cfg, log, out, path, cmd.argv, environ)
	}
	return runPool(cfg, log, out, path, cmd.argv, environ)
}

type invocation struct {
	action string // "run", "check", "version" or "help"
	check  string // "live" or "ready"
	argv   []string
}

// parseArgs reads the only arguments pinit has: its two options, or the
// command (everything after "--" is the command, never an option).
func parseArgs(args []string) (invocation, error) {
	if len(args) == 0 {
		return invocation{}, errors.New("no command given")
	}
	switch a := args[0]; {
	case a == "--version":
		return invocation{action: "version"}, nil
	case a == "-h" || a == "--help":
		return invocation{action: "help"}, nil
	case a == "--check":
		which := "live"
		if len(args) > 1 {
			which = args[1]
		}
		if (which != "live" && which != "ready") || len(args) > 2 {
			return invocation{}, fmt.Errorf("--check takes live or ready, got %q", strings.Join(args[1:], " "))
		}
		return invocation{action: "check", check: which}, nil
	case a == "--":
		if len(args) == 1 {
			return invocation{}, errors.New("no command given after --")
		}
		return invocation{action: "run", argv: args[1:]}, nil
	case strings.HasPrefix(a, "-"):
		return invocation{}, fmt.Errorf("unknown option %q (put -- before a command that starts with -)", a)
	}
	return invocation{action: "run", argv: args}, nil
}

func check(which string, environ []string, stderr io.Writer) int {
	addr := defaultHealthListen
	if v := configValue(environ, "HEALTH_LISTEN"); v != "" {
		addr = v
	}
	if err := health.Check(addr, which, checkTimeout); err != nil {
		fmt.Fprintf(stderr, "pinit: check %s: %v\n", which, checkHint(err, configValue(environ, "HEALTH_LISTEN")))
		return 1
	}
	return 0
}

// checkHint turns a refused connection into what usually causes it: pinit
// --check asks the address in its own HEALTH_LISTEN, which must be the one of
// the pinit it checks (in a HEALTHCHECK, both have the container's
// environment; from a shell, it is easily forgotten).
func checkHint(err error, healthListen string) error {
	if !errors.Is(err, unix.ECONNREFUSED) {
		return err
	}
	where := "the health server"
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		where = ue.URL
	}
	setting := fmt.Sprintf("here %q", healthListen)
	if healthListen == "" {
		setting = "unset here: the default " + defaultHealthListen
	}
	return fmt.Errorf("connection refused at %s: no pinit health server listens there "+
		"(--check asks the address in HEALTH_LISTEN, %s; set it as for the pinit to check)", where, setting)
}

// startFailed reports a command that cannot be started, on one line, and
// returns 127 (not found) or 126 (not executable).
func startFailed(stderr io.Writer, err error) int {
	code := pid1.ExitNotExecutable
	var se *pid1.StartError
	if errors.As(err, &se) {
		code = se.Code()
	}
	fmt.Fprintf(stderr, "pinit: cannot run %v\n", err)
	return code
}

// newLogger writes one line per event to w (stderr, through pid1.Output):
// JSON, or tint's text (coloured only on a terminal).
func newLogger(cfg config, w io.Writer, tty bool) *slog.Logger {
	var h slog.Handler
	switch {
	case cfg.LogFormat == "json" || (cfg.LogFormat == "auto" && !tty):
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel})
	default:
		h = tint.NewTextHandler(w, &tint.Options{Level: cfg.LogLevel, NoColor: !tty, TimeFormat: time.TimeOnly + ".000"})
	}
	return slog.New(h)
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	tty := false
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		tty = err == nil
	})
	return tty
}

// runInit is init mode: one child, tini's duties. A child that cannot be
// started is reported on stderr, like one that cannot be found.
func runInit(cfg config, log *slog.Logger, stderr io.Writer, path string, argv, environ []string) int {
	// Before the child starts, so that no SIGCHLD is missed; signals
	// ignored at start stay ignored, for pinit and for the child.
	sigs := pid1.Notify(true)
	isPID1, err := pid1.Subreaper()
	if err != nil {
		log.Warn("orphans of the child may not be reaped", "err", err)
	}
	pid, err := pid1.Start(pid1.Proc{
		Path: path, Argv: argv, Env: environ,
		Files:      []uintptr{0, 1, 2},
		Foreground: ownsTerminal(),
	})
	if err != nil {
		return startFailed(stderr, err)
	}
	logStarted(log, "init")
	// The child runs; now what can wait.
	board := &health.Board{}
	started := time.Now()
	publish := func(phase health.Phase) {
		w := health.Worker{PID: pid, State: health.WorkerUp, Started: started}
		switch phase {
		case health.PhaseStopping:
			w.State = health.WorkerStopping
		case health.PhaseExited:
			w.State = health.WorkerExited
		}
		// Init mode is ready while its one child runs and no stop has begun.
		board.Set(health.Status{State: phase, Live: true, Ready: phase == health.PhaseRunning, Desired: 1, Workers: []health.Worker{w}})
	}
	publish(health.PhaseRunning)
	serveHealth(cfg, board, log)
	log.Debug("config loaded", cfg.logValue()...)
	log.Info("child started", "pid", pid, "cmd", argv[0], "pid1", isPID1)

	child := pid1.Child{PID: pid, Grace: cfg.Grace, Signals: sigs, Log: log, OnState: publish}
	return child.Wait()
}

// logStarted is pinit's first log line once it has something to run: its own
// pid (the one to send SIGHUP, SIGTTIN, ... to), its version and its mode.
func logStarted(log *slog.Logger, mode string) {
	log.Info("pinit started", "pid", os.Getpid(), "version", buildVersion(), "mode", mode)
}

// ownsTerminal reports whether fd 0 is pinit's controlling terminal, so that
// the child can be made its foreground process group (docker run -it).
func ownsTerminal() bool {
	_, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil
}

// serveHealth starts the health server. A failure to bind is logged, not
// fatal: the child is already running and stays the container's purpose. The
// server lives until pinit exits; nothing needs closing on the way out.
func serveHealth(cfg config, board *health.Board, log *slog.Logger) {
	if cfg.HealthListen == "" {
		return
	}
	srv, err := health.Listen(health.Options{
		Addr: cfg.HealthListen, ReadyURL: cfg.ReadyURL, Logger: log,
		Version: buildVersion(), Usage: workers.TreeUsage,
	}, board)
	if err != nil {
		log.Error("health server not started", "err", err)
		return
	}
	srv.Serve()
	log.Debug("health server listening", "addr", srv.Addr().String())
}

// runPool is pool mode: bind the slot sockets, then start and supervise the
// workers. A slot that cannot be bound stops pinit before any worker starts,
// reported like a command that cannot be started: one plain line.
func runPool(cfg config, log *slog.Logger, stderr io.Writer, path string, argv, environ []string) int {
	sigs := pid1.Notify(false)
	isPID1, err := pid1.Subreaper()
	if err != nil {
		log.Warn("orphans of the workers may not be reaped", "err", err)
	}
	board := &health.Board{}
	pool, err := workers.New(workers.Config{
		Path: path, Argv: argv, Env: environ,
		Workers: cfg.Workers, Listen: cfg.Listen,
		Grace: cfg.Grace, DrainDelay: cfg.DrainDelay, StopSignal: cfg.StopSignal, WorkerTimeout: cfg.WorkerTimeout,
		MaxMemory: cfg.MaxMemory, MaxLifetime: cfg.MaxLifetime, LifetimeJitter: cfg.LifetimeJitter,
		Log: log, Board: board,
	})
	if err != nil {
		fmt.Fprintf(stderr, "pinit: cannot start the pool: %v\n", err)
		return 1
	}
	logStarted(log, "pool")
	// The health server comes up once the first workers are forked.
	pool.AfterStart = func() {
		serveHealth(cfg, board, log)
		log.Debug("config loaded", cfg.logValue()...)
		log.Info("pool started", "workers", cfg.Workers, "listen", cfg.Listen, "cmd", argv[0], "pid1", isPID1)
	}
	return pool.Run(sigs)
}
