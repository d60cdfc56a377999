// Command testworker is the fake worker that pinit's integration tests run under pinit.
// One binary; the first argument selects the mode:
//
//	testworker serve [--notify] [--status-first] [--delay-ready D]
//	    With --status-first, before anything else: sends STATUS=starting to $NOTIFY_SOCKET
//	    and writes "pid <pid> said STATUS=starting at boottime <ns>" to stderr (CLOCK_BOOTTIME,
//	    read once the message is sent), so that pinit knows at once it speaks sd_notify.
//	    HTTP on the listener inherited as fd 3; needs LISTEN_FDS=1 and LISTEN_PID=<own pid>,
//	    else exits 3. "GET /" and "GET /slow?ms=N" (after N ms) answer one JSON line
//	    {"worker_id":"<WORKER_ID>","pid":N,"listen_pid":N}. Writes
//	    "worker <WORKER_ID> pid <pid> serving" to stderr once serving; with --notify sends
//	    READY=1 to $NOTIFY_SOCKET ("@name" = abstract) after D. On SIGTERM, SIGQUIT or
//	    SIGINT: a graceful drain (see drain): it stops accepting, answers every connection
//	    it accepted that sends a request within 1 s, with "Connection: close", and
//	    exits 0 once they are all answered.
//	    --delay-serve D: accept nothing for D after start (a slow starter); --crash-worker ID:
//	    exit 1 at start when WORKER_ID is ID; --watchdog-once: send WATCHDOG=1 with READY=1,
//	    then never again (a hung event loop under sd_notify's watchdog); --leak N: leak N
//	    bytes of memory a second, written so that they are resident; --serial: accept the
//	    next connection only once the last one is closed (a sync worker, no keep-alive).
//	testworker with-signals [--ignore SIGS] [--block SIGS] CMD [ARG...]
//	    execs CMD with the comma-separated SIGS (names or numbers) of --ignore ignored and
//	    those of --block blocked, nothing else blocked: the signal state nohup or a shell's
//	    `cmd &` hands to a process.
//	testworker no-reuseport-bpf CMD [ARG...]
//	    execs CMD under a seccomp filter that fails SO_ATTACH_REUSEPORT_CBPF with EPERM, the
//	    way a sandbox that refuses the program would.
//	testworker signals [--stay]
//	    prints "ready", then "got <SIGNAME>" (e.g. "got SIGUSR1", "got SIGRTMIN+3") for
//	    every signal it receives, realtime ones included, and SIGURG when the binary was
//	    built with the runtime's asynchronous preemption off (as TestMain builds it: then
//	    its own runtime sends it none); exits 0 right after "got SIGTERM", unless --stay.
//	testworker exit N
//	    exits with status N.
//	testworker kill-self SIG
//	    dies by signal SIG ("KILL", "SIGKILL" or "9"), default action restored first. If
//	    that action does not kill (SIGCHLD, SIGWINCH, ...) it exits 1 after 1 s.
//	testworker orphans N [--exit] [--linger D]
//	    leaves N orphans (grandchildren whose parent has exited) that exit after D (default
//	    100ms); prints "orphans <pid>..." then "spawned N"; then waits for SIGTERM or
//	    SIGINT and exits 0, or with --exit exits 0 at once. (Its helper mode "spawn N D"
//	    starts the N "sleep D" orphans and exits.)
//	testworker ignore-term [--children K]
//	    ignores SIGTERM and SIGINT, starts K children in its process group that do the
//	    same, prints "ready pids <own pid> <child pid>..." once all ignore them, then
//	    sleeps forever.
//	testworker crash [--after D]
//	    after D (default 0) writes a line to stderr and exits 1.
//	testworker sleep D
//	    sleeps D, exits 0.
//	testworker env
//	    prints its environment, one variable per line, then "fds: 0 1 2 ..." (the file
//	    descriptors it inherited, i.e. open without close-on-exec), exits 0.
//
// D is a Go duration ("250ms", "2s") or a number of seconds ("2", "0.5"). Output is
// never buffered: os.Stdout and os.Stderr write each line with one write(2).
//
// Build it with CGO_ENABLED=0 go build ./integration/testdata/testworker.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var modes = map[string]func(args []string) int{
	"serve":       serve,
	"signals":     signals,
	"exit":        exit,
	"kill-self":   killSelf,
	"orphans":     orphans,
	"spawn":       spawn,
	"ignore-term": ignoreTerm,
	"crash":       crash,
	"sleep":       sleep,
	"env":         env,

	"no-reuseport-bpf": noReuseportBPF,
	"with-signals":     withSignals,
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 || modes[args[0]] == nil {
		fmt.Fprintln(os.Stderr, "usage: testworker serve|signals|exit|kill-self|orphans|ignore-term|crash|sleep|env [ARGS] (see go doc)")
		return 2
	}
	return modes[args[0]](args[1:])
}

// serve answers HTTP on the socket-activation listener (fd 3) until told to stop.
func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	notify := fs.Bool("notify", false, "send READY=1 to $NOTIFY_SOCKET")
	statusFirst := fs.Bool("status-first", false, "send STATUS=starting to $NOTIFY_SOCKET before anything else")
	var delay, delayServe time.Duration
	fs.Func("delay-ready", "wait `D` before READY=1", durationVar(&delay))
	fs.Func("delay-serve", "wait `D` before accepting anything (READY=1 comes after)", durationVar(&delayServe))
	crashWorker := fs.String("crash-worker", "", "exit 1 at start when WORKER_ID is `ID`")
	watchdogOnce := fs.Bool("watchdog-once", false, "send WATCHDOG=1 once, right after READY=1, and never again")
	leakRate := fs.Int("leak", 0, "leak `N` bytes of memory a second (a leaking app)")
	serial := fs.Bool("serial", false, "take one connection at a time, as a sync worker does")
	if _, err := parse(fs, args, 0); err != nil {
		return 2
	}
	pid := os.Getpid()
	if *crashWorker != "" && os.Getenv("WORKER_ID") == *crashWorker {
		logf("worker %s pid %d crashing at start", *crashWorker, pid)
		return 1
	}
	if *statusFirst {
		if err := sdNotify("STATUS=starting"); err != nil {
			logf("testworker serve: notify: %v", err)
			return 1
		}
		var now unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &now); err != nil {
			logf("testworker serve: clock_gettime: %v", err)
			return 1
		}
		logf("pid %d said STATUS=starting at boottime %d", pid, now.Nano())
	}
	listenPID, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if os.Getenv("LISTEN_FDS") != "1" || listenPID != pid {
		logf("testworker serve: want LISTEN_FDS=1 LISTEN_PID=%d, got LISTEN_FDS=%q LISTEN_PID=%q",
			pid, os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID"))
		return 3
	}
	if *notify && os.Getenv("NOTIFY_SOCKET") == "" {
		logf("testworker serve: --notify but NOTIFY_SOCKET is not set")
		return 3
	}
	f := os.NewFile(3, "listener")
	ln, err := net.FileListener(f) // a dup of fd 3
	f.Close()
	if err != nil {
		logf("testworker serve: fd 3: %v", err)
		return 3
	}

	id := os.Getenv("WORKER_ID")
	body, _ := json.Marshal(struct {
		WorkerID  string `json:"worker_id"`
		PID       int    `json:"pid"`
		ListenPID int    `json:"listen_pid"`
	}{id, pid, listenPID})
	body = append(body, '\n')
	answer := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { answer(w) })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "want ?ms=N", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		answer(w)
	})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGQUIT, unix.SIGINT)
	cs := newConns()
	// ReadHeaderTimeout bounds a client that sends part of a request and no more.
	srv := &http.Server{Handler: mux, ConnState: cs.track, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	time.Sleep(delayServe)
	if *leakRate > 0 {
		go leak(*leakRate)
	}
	if *serial {
		srv.SetKeepAlivesEnabled(false)
		ln = serialListener{ln, make(chan struct{}, 1)}
	}
	go func() { served <- srv.Serve(ln) }()
	logf("worker %s pid %d serving", id, pid)

	var ready <-chan time.Time
	if *notify {
		ready = time.After(delay)
	}
	for {
		select {
		case <-ready:
			ready = nil
			msg := "READY=1"
			if *watchdogOnce {
				msg += "\nWATCHDOG=1"
			}
			if err := sdNotify(msg); err != nil {
				logf("testworker serve: notify: %v", err)
				return 1
			}
		case err := <-served:
			logf("testworker serve: %v", err)
			return 1
		case sig := <-stop:
			logf("worker %s pid %d got %s, shutting down", id, pid, sigName(sig))
			silent, err := drain(srv, ln, served, cs)
			if err != nil {
				logf("testworker serve: shutdown: %v", err)
				return 1
			}
			if silent > 0 {
				logf("worker %s pid %d closed %d connections that sent no request", id, pid, silent)
			}
			logf("worker %s pid %d stopped", id, pid)
			return 0
		}
	}
}

// silentWait is how long a stopping worker waits for a request on a connection
// it accepted that has sent none yet. A client that connects sends at once.
const silentWait = time.Second

// drain stops srv gracefully without dropping a request. http.Server.Shutdown
// alone would: it returns without an answer from a connection it reads a
// request from after it began (net/http, conn.serve: "if
// c.server.shuttingDown() { return }"), and a connection the kernel queued
// and the worker accepted just before its stop has often not been read yet.
//
//  1. Close the listener: no more accepts. The listening socket itself stays
//     open where it is shared (pinit and a reload's new worker hold it), and
//     the connections queued in it are theirs to accept.
//  2. Once Serve has returned, every accepted connection has been through
//     ConnState (StateNew is set before Serve accepts again).
//  3. SetKeepAlivesEnabled(false): every answer from now on says
//     "Connection: close", and idle keep-alive connections are closed at
//     once. A client reusing one at that very moment races the close, as
//     HTTP/1.1 allows; clients retry an idempotent request on a new
//     connection (Go's http.Transport does).
//  4. Wait until no connection owes its client an answer: none is active,
//     and each one that has sent no request (StateNew) either sends one
//     within silentWait of the stop or is closed then. One with request
//     bytes waiting in its socket has sent (its goroutine has not read them
//     yet) and is waited for; one that sent part of a request and stalls is
//     ended by ReadHeaderTimeout. Active ones are waited for here, not by
//     Shutdown: net/http marks a connection active just before it checks
//     for shutdown, so Shutdown would still drop a request read a moment
//     before it.
//  5. Shutdown: nothing is left for it to drop.
//
// It returns how many silent connections it closed.
func drain(srv *http.Server, ln net.Listener, served <-chan error, cs *conns) (int, error) {
	start := time.Now()
	ln.Close()
	<-served // "use of closed network connection": expected
	srv.SetKeepAlivesEnabled(false)
	silent := 0
	deadline := time.NewTimer(silentWait)
	defer deadline.Stop()
	for {
		owed, closed := cs.owing(time.Since(start) >= silentWait)
		silent += closed
		if !owed {
			break
		}
		select {
		case <-cs.changed:
		case <-deadline.C:
		}
	}
	return silent, srv.Shutdown(context.Background())
}

// conns follows the server's connections through http.Server.ConnState.
type conns struct {
	mu      sync.Mutex
	state   map[net.Conn]http.ConnState
	changed chan struct{} // a state changed since the last receive
}

func newConns() *conns {
	return &conns{state: map[net.Conn]http.ConnState{}, changed: make(chan struct{}, 1)}
}

func (c *conns) track(nc net.Conn, st http.ConnState) {
	c.mu.Lock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(c.state, nc)
	} else {
		c.state[nc] = st
	}
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// owing reports whether some connection still owes its client an answer: one
// being answered (active), or one that has not sent a request yet (new). With
// late, new connections with nothing to read are closed instead, and counted.
func (c *conns) owing(late bool) (owed bool, closed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for nc, st := range c.state {
		switch {
		case st == http.StateActive:
			owed = true
		case st != http.StateNew:
		case !late || unread(nc) > 0:
			owed = true
		default:
			nc.Close() // its goroutine sees the error and reports StateClosed
			delete(c.state, nc)
			closed++
		}
	}
	return owed, closed
}

// unread is how many bytes wait in nc's socket, read by no one yet (SIOCINQ).
func unread(nc net.Conn) int {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n
}

// sdNotify sends state to $NOTIFY_SOCKET; Go maps a leading "@" to an abstract address.
func sdNotify(state string) error {
	addr := &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// signals reports every signal it can catch.
func signals(args []string) int {
	fs := flag.NewFlagSet("signals", flag.ContinueOnError)
	stay := fs.Bool("stay", false, "keep running after SIGTERM")
	if _, err := parse(fs, args, 0); err != nil {
		return 2
	}
	var catchable []os.Signal
	for s := syscall.Signal(1); s <= sigRTMax; s++ {
		// SIGKILL and SIGSTOP cannot be caught; the Go runtime sends itself SIGURG to
		// preempt goroutines, so it would show up without anyone sending it, unless
		// this binary was built with that preemption off. 32 and 33 are the C
		// library's own (glibc's thread cancellation and setxid).
		if s == unix.SIGURG && !preemptionOff() {
			continue
		}
		if s != unix.SIGKILL && s != unix.SIGSTOP && s != 32 && s != 33 {
			catchable = append(catchable, s)
		}
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, catchable...)
	say("ready")
	for sig := range sigs {
		say("got " + sigName(sig))
		if sig == unix.SIGTERM && !*stay {
			return 0
		}
	}
	return 0
}

func exit(args []string) int {
	pos, err := parse(flag.NewFlagSet("exit", flag.ContinueOnError), args, 1)
	if err != nil {
		return 2
	}
	n, err := strconv.Atoi(pos[0])
	if err != nil || n < 0 || n > 255 {
		logf("testworker exit: want a status 0..255, got %q", pos[0])
		return 2
	}
	return n
}

// killSelf dies by a signal. The Go runtime handles every signal itself (and turns
// SIGQUIT or SIGABRT into a stack dump and exit 2), so the kernel's default action is
// put back first.
func killSelf(args []string) int {
	pos, err := parse(flag.NewFlagSet("kill-self", flag.ContinueOnError), args, 1)
	if err != nil {
		return 2
	}
	sig, err := parseSignal(pos[0])
	if err != nil {
		logf("testworker kill-self: %v", err)
		return 2
	}
	if sig != unix.SIGKILL && sig != unix.SIGSTOP {
		// struct sigaction all zero: handler SIG_DFL, no flags, empty mask.
		var act [4]uint64
		_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
		if errno != 0 {
			logf("testworker kill-self: rt_sigaction %s: %v", sigName(sig), errno)
			return 1
		}
	}
	if err := unix.Kill(os.Getpid(), sig); err != nil {
		logf("testworker kill-self: kill %s: %v", sigName(sig), err)
		return 1
	}
	time.Sleep(time.Second)
	logf("testworker kill-self: still alive after %s (its default action does not kill)", sigName(sig))
	return 1
}

// orphans makes N orphans through a "spawn" child that starts them and exits at once,
// so they are reparented to PID 1 or the nearest child subreaper while we live on.
func orphans(args []string) int {
	fs := flag.NewFlagSet("orphans", flag.ContinueOnError)
	exitNow := fs.Bool("exit", false, "exit right after spawning")
	linger := 100 * time.Millisecond
	fs.Func("linger", "the orphans exit after `D`", durationVar(&linger))
	pos, err := parse(fs, args, 1)
	if err != nil {
		return 2
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)

	cmd := exec.Command(self(), "spawn", pos[0], linger.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		logf("testworker orphans: spawn: %v", err)
		return 1
	}
	pids := strings.Fields(string(out))
	say("orphans " + strings.Join(pids, " "))
	say(fmt.Sprintf("spawned %d", len(pids)))
	if !*exitNow {
		<-stop
	}
	return 0
}

// spawn (used by orphans) starts N "sleep D" children, prints their pids and exits
// without waiting for them.
func spawn(args []string) int {
	pos, err := parse(flag.NewFlagSet("spawn", flag.ContinueOnError), args, 2)
	if err != nil {
		return 2
	}
	n, err := strconv.Atoi(pos[0])
	if err != nil || n < 0 {
		logf("testworker spawn: want a count, got %q", pos[0])
		return 2
	}
	for range n {
		cmd := exec.Command(self(), "sleep", pos[1])
		cmd.Stderr = os.Stderr // stdout stays /dev/null: our parent reads ours to EOF
		if err := cmd.Start(); err != nil {
			logf("testworker spawn: %v", err)
			return 1
		}
		say(strconv.Itoa(cmd.Process.Pid))
	}
	return 0
}

// ignoreTerm is a worker that will not stop politely, nor will its children.
func ignoreTerm(args []string) int {
	fs := flag.NewFlagSet("ignore-term", flag.ContinueOnError)
	children := fs.Int("children", 0, "start `K` children that ignore SIGTERM too")
	if _, err := parse(fs, args, 0); err != nil {
		return 2
	}
	signal.Ignore(unix.SIGTERM, unix.SIGINT)
	pids := []string{strconv.Itoa(os.Getpid())}
	for range *children {
		cmd := exec.Command(self(), "ignore-term") // same process group
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			logf("testworker ignore-term: %v", err)
			return 1
		}
		if err := cmd.Start(); err != nil {
			logf("testworker ignore-term: %v", err)
			return 1
		}
		// Its "ready" line means it ignores SIGTERM now; it writes nothing after that.
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			logf("testworker ignore-term: child %d: %v", cmd.Process.Pid, err)
			return 1
		}
		pids = append(pids, strconv.Itoa(cmd.Process.Pid))
	}
	say("ready pids " + strings.Join(pids, " "))
	for {
		time.Sleep(time.Hour)
	}
}

func crash(args []string) int {
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	var after time.Duration
	fs.Func("after", "crash after `D`", durationVar(&after))
	if _, err := parse(fs, args, 0); err != nil {
		return 2
	}
	time.Sleep(after)
	logf("testworker crash: pid %d exiting 1", os.Getpid())
	return 1
}

func sleep(args []string) int {
	pos, err := parse(flag.NewFlagSet("sleep", flag.ContinueOnError), args, 1)
	if err != nil {
		return 2
	}
	d, err := parseDuration(pos[0])
	if err != nil {
		logf("testworker sleep: %v", err)
		return 2
	}
	time.Sleep(d)
	return 0
}

// env shows what the worker inherited: its environment and the fds it got through
// exec, which are those without close-on-exec (the Go runtime opens its own, such as
// the cgroup CPU quota files it watches for GOMAXPROCS, with the flag set).
func env(args []string) int {
	if _, err := parse(flag.NewFlagSet("env", flag.ContinueOnError), args, 0); err != nil {
		return 2
	}
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		logf("testworker env: %v", err)
		return 1
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil {
			logf("testworker env: getdents: %v", err)
			return 1
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	unix.Close(dir)
	var fds []int
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		// exec closed every close-on-exec fd, so one that has the flag now was opened
		// by this process: the directory, or the Go runtime's cgroup and epoll fds.
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			fds = append(fds, fd)
		}
	}
	slices.Sort(fds)

	var b strings.Builder
	for _, kv := range os.Environ() {
		b.WriteString(kv + "\n")
	}
	b.WriteString("fds:")
	for _, fd := range fds {
		fmt.Fprintf(&b, " %d", fd)
	}
	say(b.String())
	return 0
}

// parse parses fs's flags, which may come before or after the positional arguments,
// and wants exactly n of those.
func parse(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != n {
		err := fmt.Errorf("testworker %s: want %d arguments, got %q", fs.Name(), n, pos)
		logf("%v", err)
		return nil, err
	}
	return pos, nil
}

func durationVar(d *time.Duration) func(string) error {
	return func(s string) (err error) {
		*d, err = parseDuration(s)
		return err
	}
}

// parseDuration reads a Go duration or a number of seconds.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// parseSignal reads "KILL", "SIGKILL", "kill" or "9".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errors.New("unknown signal " + strconv.Quote(s))
}

// The realtime signals, named as kill -l names them: SIGRTMIN+3 is 37.
const (
	sigRTMin = syscall.Signal(34)
	sigRTMax = syscall.Signal(64)
)

func sigName(sig os.Signal) string {
	s, ok := sig.(syscall.Signal)
	if name := unix.SignalName(s); ok && name != "" {
		return name
	}
	if ok && s >= sigRTMin && s <= sigRTMax {
		return fmt.Sprintf("SIGRTMIN+%d", s-sigRTMin)
	}
	return sig.String()
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	return exe
}

// preemptionOff reports whether this binary was built with the Go runtime's
// asynchronous preemption off (-ldflags=-X=runtime.godebugDefault=asyncpreemptoff=1,
// as the integration tests' TestMain builds it): then its own runtime never sends
// it SIGURG, and every SIGURG it gets was sent by someone.
func preemptionOff() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" && strings.Contains(s.Value, "asyncpreemptoff=1") {
			return true
		}
	}
	return false
}

// say writes one line to stdout in a single write; os.Stdout has no buffer to lose.
func say(line string) { os.Stdout.WriteString(line + "\n") }

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// leak holds on to rate bytes more every second, in 25 steps, each page
// written so that it counts in the resident set.
func leak(rate int) {
	var held [][]byte
	for range time.Tick(40 * time.Millisecond) {
		b := make([]byte, rate/25)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		held = append(held, b)
	}
}

// serialListener accepts one connection at a time: the next Accept waits
// until the connection it returned last is closed.
type serialListener struct {
	net.Listener
	turn chan struct{}
}

func (l serialListener) Accept() (net.Conn, error) {
	l.turn <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.turn
		return nil, err
	}
	return &serialConn{Conn: c, done: l.turn}, nil
}

type serialConn struct {
	net.Conn
	done chan struct{}
	once sync.Once
}

func (c *serialConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.done })
	return err
}
