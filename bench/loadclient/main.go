// Command loadclient is the benchmarks' own HTTP client. wrk measures
// throughput but hides failures: it reconnects silently when a server closes a
// keep-alive connection that has a request pending, never counts a request
// that gets no answer, and files refused reconnects under write errors. This
// client speaks raw HTTP/1.1 over net.Conn (no net/http Transport, which
// retries idempotent requests on reused connections and so hides the same
// failures) and counts every attempt, separately for fresh connections and for
// keep-alive ones.
//
//	loadclient load -addr 127.0.0.1:8000 -fresh 8 -keepalive 32 -d 10s
//	loadclient killwatch -parent PID -victim PID -addr 127.0.0.1:8000 -path /pid
//	loadclient window -requests FILE -from UNIX_NS -d 5s
//
// load prints one RESULT line per kind (fresh, keepalive, and paced with -paced):
//
//	sent       attempts, including those whose connect failed
//	ok         2xx responses
//	non2xx     other complete responses
//	refused    connect() got ECONNREFUSED
//	reset_eof  ECONNRESET, EPIPE or EOF before a complete response
//	timeout    no complete response within -timeout (connect included)
//	other      any other error
//	reused     (keepalive) failures on a connection that had already served a request
//	slow       requests answered (2xx) but only after more than -slow (1 s)
//	accepted_reset, accepted_timeout
//	           the reset_eof and timeout failures whose connection had been
//	           established (the kernel completed the handshake, so a listener
//	           had it in its queue): the server dropped or never answered a
//	           connection it had taken, as opposed to a refused or unanswered SYN
//
// With -requests FILE, load also writes one line per request (see reqLog),
// and window counts from such a file the requests in flight during a time
// window: those that took over -slow and those that failed, by cause, and
// when a worker pid first seen in the window first answered. That is how the
// benchmarks count what clients saw in the seconds after a fault they caused
// at a time they noted.
//
// killwatch SIGKILLs -victim and reports how long until the victim is dead (a
// zombie), reaped (gone from /proc), until -parent has a new child (polling
// /proc), and until a fresh-connection GET of -path answers with a pid that was
// not a child of -parent before the kill.
//
// Only the standard library is used.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadclient load|killwatch|window [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "load":
		os.Exit(load(os.Args[2:]))
	case "killwatch":
		os.Exit(killwatch(os.Args[2:]))
	case "window":
		os.Exit(window(os.Args[2:]))
	}
	fmt.Fprintln(os.Stderr, "usage: loadclient load|killwatch|window [flags]")
	os.Exit(2)
}

// outcome of one request.
type outcome int

const (
	okay outcome = iota
	non2xx
	refused
	resetEOF
	timedOut
	otherErr
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "non2xx", "refused", "reset_eof", "timeout", "other"}

func classify(err error) outcome {
	var ne net.Error
	switch {
	case err == nil:
		return okay
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.As(err, &ne) && ne.Timeout():
		return timedOut
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return resetEOF
	}
	return otherErr
}

// stats are one goroutine's counts; merged at the end.
type stats struct {
	sent      int
	counts    [nOutcomes]int
	reused    int             // keep-alive failures on a connection that had served a request
	slow      int             // ok responses that took longer than loadConfig.slow
	accepted  [nOutcomes]int  // failures on an established connection, by outcome
	latencies []time.Duration // of ok responses
	requests  []request       // every request, with -requests
	firstFail time.Duration   // since start; -1: none
	lastOK    time.Duration
	buckets   []bucket // the timeline: requests by the time they started, in steps of timelineStep
}

// timelineStep is the width of one bucket of the -timeline file.
const timelineStep = 100 * time.Millisecond

type bucket struct {
	sent, ok, failed int
	maxLatency       time.Duration // of any request that started in the bucket, failed ones included
}

func (s *stats) record(start time.Duration, o outcome, took time.Duration) {
	i := int(start / timelineStep)
	for len(s.buckets) <= i {
		s.buckets = append(s.buckets, bucket{})
	}
	b := &s.buckets[i]
	b.sent++
	if o == okay {
		b.ok++
	} else {
		b.failed++
	}
	b.maxLatency = max(b.maxLatency, took)
}

func newStats() *stats { return &stats{firstFail: -1} }

func (s *stats) merge(o *stats) {
	s.sent += o.sent
	for i := range s.counts {
		s.counts[i] += o.counts[i]
	}
	s.reused += o.reused
	s.slow += o.slow
	for i := range s.accepted {
		s.accepted[i] += o.accepted[i]
	}
	s.requests = append(s.requests, o.requests...)
	s.latencies = append(s.latencies, o.latencies...)
	if o.firstFail >= 0 && (s.firstFail < 0 || o.firstFail < s.firstFail) {
		s.firstFail = o.firstFail
	}
	s.lastOK = max(s.lastOK, o.lastOK)
	for len(s.buckets) < len(o.buckets) {
		s.buckets = append(s.buckets, bucket{})
	}
	for i, b := range o.buckets {
		t := &s.buckets[i]
		t.sent += b.sent
		t.ok += b.ok
		t.failed += b.failed
		t.maxLatency = max(t.maxLatency, b.maxLatency)
	}
}

// events prints the first few failures with their time, as evidence.
type events struct {
	mu    sync.Mutex
	left  int
	start time.Time
}

func (e *events) report(kind string, reused bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.left <= 0 {
		return
	}
	e.left--
	fmt.Fprintf(os.Stderr, "EVENT t=%.3fs kind=%s reused=%v err=%v\n", time.Since(e.start).Seconds(), kind, reused, err)
}

type loadConfig struct {
	addr, path    string
	timeout       time.Duration
	slow          time.Duration
	stopOnRefused bool
	logRequests   bool
	start, end    time.Time
	ev            *events
}

// request is one line of the -requests file:
//
//	start_ns took_us kind outcome connected pid
//
// start_ns: when it began (Unix time, ns); took_us: until the whole response
// or the failure; kind: fresh, keepalive or paced; outcome: ok, non2xx, refused,
// reset_eof, timeout, other; connected: 1 if the connection was established
// (an error after that is the server's doing after accepting, or at least
// after the kernel queued it), 0 if the connect itself failed; pid: the
// "pid" of a JSON body such as bench/app.py's /pid returns, 0 otherwise.
type request struct {
	start     time.Time
	took      time.Duration
	kind      string
	outcome   outcome
	connected bool
	pid       int
}

func load(args []string) int {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8000", "host:port")
	path := fs.String("path", "/", "request path")
	fresh := fs.Int("fresh", 4, "goroutines that open a new connection per request (Connection: close)")
	keep := fs.Int("keepalive", 16, "goroutines that reuse one connection (redial after a failure or a close)")
	dur := fs.Duration("d", 10*time.Second, "how long to send new requests")
	timeout := fs.Duration("timeout", 3*time.Second, "per request, connect included")
	stopOnRefused := fs.Bool("stop-on-refused", false, "a goroutine stops at its first refused connect (the server stopped listening)")
	nEvents := fs.Int("events", 10, "print this many failures on stderr")
	label := fs.String("label", "", "copied into the RESULT lines")
	timeline := fs.String("timeline", "", "write per-100ms rows (t_s kind sent ok failed max_ms) to this file")
	slow := fs.Duration("slow", time.Second, "count requests that take longer than this (slow= in RESULT)")
	requests := fs.String("requests", "", "write one line per request to this file (see window)")
	paced := fs.Float64("paced", 0, "also start this many requests per second, each on a new connection, "+
		"whether earlier ones have been answered or not (open loop: kind paced)")
	_ = fs.Parse(args)

	start := time.Now()
	cfg := loadConfig{addr: *addr, path: *path, timeout: *timeout, slow: *slow, stopOnRefused: *stopOnRefused,
		logRequests: *requests != "", start: start, end: start.Add(*dur), ev: &events{left: *nEvents, start: start}}
	run := func(n int, keepAlive bool) *stats {
		var wg sync.WaitGroup
		per := make([]*stats, n)
		for i := range n {
			per[i] = newStats()
			wg.Go(func() { cfg.worker(keepAlive, per[i]) })
		}
		wg.Wait()
		total := newStats()
		for _, s := range per {
			total.merge(s)
		}
		return total
	}
	var freshStats, keepStats *stats
	pacedStats := newStats()
	var wg sync.WaitGroup
	wg.Go(func() { freshStats = run(*fresh, false) })
	wg.Go(func() { keepStats = run(*keep, true) })
	if *paced > 0 {
		wg.Go(func() { cfg.paced(*paced, pacedStats) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	printResult(*label, "fresh", freshStats, elapsed)
	printResult(*label, "keepalive", keepStats, elapsed)
	if *paced > 0 {
		printResult(*label, "paced", pacedStats, elapsed)
	}
	if *timeline != "" {
		if err := writeTimeline(*timeline, freshStats, keepStats); err != nil {
			fmt.Fprintln(os.Stderr, "loadclient:", err)
			return 1
		}
	}
	if *requests != "" {
		if err := writeRequests(*requests, freshStats, keepStats, pacedStats); err != nil {
			fmt.Fprintln(os.Stderr, "loadclient:", err)
			return 1
		}
	}
	return 0
}

func writeRequests(path string, all ...*stats) error {
	var reqs []request
	for _, s := range all {
		reqs = append(reqs, s.requests...)
	}
	slices.SortFunc(reqs, func(a, b request) int { return a.start.Compare(b.start) })
	var b strings.Builder
	for _, r := range reqs {
		conn := 0
		if r.connected {
			conn = 1
		}
		fmt.Fprintf(&b, "%d %d %s %s %d %d\n", r.start.UnixNano(), r.took.Microseconds(), r.kind,
			outcomeNames[r.outcome], conn, r.pid)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeTimeline(path string, fresh, keep *stats) error {
	var b strings.Builder
	b.WriteString("t_s kind sent ok failed max_ms\n")
	for i := range max(len(fresh.buckets), len(keep.buckets)) {
		for _, k := range []struct {
			name string
			s    *stats
		}{{"fresh", fresh}, {"keepalive", keep}} {
			if i < len(k.s.buckets) {
				x := k.s.buckets[i]
				fmt.Fprintf(&b, "%.1f %s %d %d %d %.1f\n", (time.Duration(i) * timelineStep).Seconds(), k.name,
					x.sent, x.ok, x.failed, float64(x.maxLatency.Microseconds())/1000)
			}
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func printResult(label, kind string, s *stats, elapsed time.Duration) {
	slices.Sort(s.latencies)
	pct := func(p float64) string {
		if len(s.latencies) == 0 {
			return "NA"
		}
		i := min(len(s.latencies)-1, int(p*float64(len(s.latencies))))
		return fmt.Sprintf("%.2f", float64(s.latencies[i].Microseconds())/1000)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT label=%s kind=%s sent=%d", label, kind, s.sent)
	for i, n := range s.counts {
		fmt.Fprintf(&b, " %s=%d", outcomeNames[i], n)
	}
	failed := s.sent - s.counts[okay]
	fmt.Fprintf(&b, " failed=%d", failed)
	if kind == "keepalive" {
		fmt.Fprintf(&b, " reused=%d", s.reused)
	}
	fmt.Fprintf(&b, " slow=%d accepted_reset=%d accepted_timeout=%d", s.slow, s.accepted[resetEOF], s.accepted[timedOut])
	fmt.Fprintf(&b, " rps=%.0f p50_ms=%s p99_ms=%s max_ms=%s", float64(s.counts[okay])/elapsed.Seconds(), pct(0.50), pct(0.99), pct(1))
	if s.firstFail >= 0 {
		fmt.Fprintf(&b, " first_fail_s=%.3f", s.firstFail.Seconds())
	} else {
		b.WriteString(" first_fail_s=NA")
	}
	fmt.Fprintf(&b, " last_ok_s=%.3f", s.lastOK.Seconds())
	fmt.Println(b.String())
}

// conn is a client connection with its reader and whether it served a request.
type conn struct {
	c      net.Conn
	br     *bufio.Reader
	served bool
}

func (cfg *loadConfig) worker(keepAlive bool, s *stats) {
	kind := "fresh"
	if keepAlive {
		kind = "keepalive"
	}
	var cur *conn
	defer func() {
		if cur != nil {
			cur.c.Close()
		}
	}()
	req := []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pinit-loadclient\r\n", cfg.path, cfg.addr))
	if keepAlive {
		req = append(req, "\r\n"...)
	} else {
		req = append(req, "Connection: close\r\n\r\n"...)
	}
	for time.Now().Before(cfg.end) {
		t0 := time.Now()
		reused := cur != nil && cur.served
		status, keep, pid, err := cfg.do(&cur, req)
		connected := cur != nil // do leaves cur nil only when the connect failed
		o := cfg.count(s, kind, t0, status, pid, err, connected, reused)
		if err != nil || !keep || !keepAlive {
			if cur != nil {
				cur.c.Close()
				cur = nil
			}
		}
		if o == refused {
			if cfg.stopOnRefused {
				return
			}
			time.Sleep(time.Millisecond) // do not spin on a closed port
		}
	}
}

// count records one request's outcome in s and returns it.
func (cfg *loadConfig) count(s *stats, kind string, t0 time.Time, status, pid int, err error, connected, reused bool) outcome {
	s.sent++
	o := classify(err)
	if err == nil && (status < 200 || status > 299) {
		o = non2xx
	}
	s.counts[o]++
	now := time.Now()
	took := now.Sub(t0)
	s.record(t0.Sub(cfg.start), o, took)
	if o == okay && took > cfg.slow {
		s.slow++
	}
	if o != okay && connected {
		s.accepted[o]++
	}
	if cfg.logRequests {
		s.requests = append(s.requests, request{start: t0, took: took, kind: kind, outcome: o,
			connected: connected, pid: pid})
	}
	if o == okay {
		s.latencies = append(s.latencies, took)
		s.lastOK = now.Sub(cfg.start)
		return o
	}
	if s.firstFail < 0 {
		s.firstFail = t0.Sub(cfg.start)
	}
	if reused && err != nil {
		s.reused++
	}
	if err == nil {
		err = fmt.Errorf("HTTP %d", status)
	}
	cfg.ev.report(kind, reused, err)
	return o
}

// paced starts rate requests a second, each on a new connection in a
// goroutine of its own, until the end: an open loop, as independent users
// arrive, so that a request that waits does not hold back the next ones (with
// a few closed-loop clients, one slot that holds connections soon holds every
// client). At most maxPaced are in flight; a tick that finds that many is
// skipped and counted as other.
func (cfg *loadConfig) paced(rate float64, s *stats) {
	const maxPaced = 4096
	req := []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pinit-loadclient\r\nConnection: close\r\n\r\n",
		cfg.path, cfg.addr))
	interval := time.Duration(float64(time.Second) / rate)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxPaced)
	for next := cfg.start; ; {
		next = next.Add(interval)
		if !next.Before(cfg.end) {
			break
		}
		time.Sleep(time.Until(next))
		select {
		case sem <- struct{}{}:
		default:
			mu.Lock()
			cfg.count(s, "paced", time.Now(), 0, 0, errors.New("too many in flight"), false, false)
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			var cur *conn
			status, _, pid, err := cfg.do(&cur, req)
			if cur != nil {
				cur.c.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			cfg.count(s, "paced", t0, status, pid, err, cur != nil, false)
		})
	}
	wg.Wait()
}

// do sends one request on *cur, dialling first when there is no connection,
// and reads the whole response. keep says whether the connection may be
// reused; pid is the body's "pid" field, if it has one. *cur stays nil only
// when the connect failed.
func (cfg *loadConfig) do(cur **conn, req []byte) (status int, keep bool, pid int, err error) {
	deadline := time.Now().Add(cfg.timeout)
	if *cur == nil {
		d := net.Dialer{Deadline: deadline}
		c, err := d.Dial("tcp", cfg.addr)
		if err != nil {
			return 0, false, 0, err
		}
		*cur = &conn{c: c, br: bufio.NewReader(c)}
	}
	c := *cur
	if err := c.c.SetDeadline(deadline); err != nil {
		return 0, false, 0, err
	}
	if _, err := c.c.Write(req); err != nil {
		return 0, false, 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, false, 0, err
	}
	var body []byte
	if cfg.logRequests {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 4096))
	}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return 0, false, 0, err
	}
	c.served = true
	return resp.StatusCode, !resp.Close, bodyPID(body), nil
}

// bodyPID is the "pid" of a small JSON object, 0 when there is none.
func bodyPID(body []byte) int {
	if len(body) == 0 || body[0] != '{' {
		return 0
	}
	var v struct {
		PID int `json:"pid"`
	}
	if json.Unmarshal(body, &v) != nil {
		return 0
	}
	return v.PID
}

// get does one fresh-connection GET and returns the status and body.
func get(addr, path string, timeout time.Duration) (int, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func killwatch(args []string) int {
	fs := flag.NewFlagSet("killwatch", flag.ExitOnError)
	parent := fs.Int("parent", 0, "pid of the manager whose worker is killed")
	victim := fs.Int("victim", 0, "pid of the worker to SIGKILL")
	addr := fs.String("addr", "127.0.0.1:8000", "host:port")
	path := fs.String("path", "/pid", "route answering {\"pid\": N}")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this")
	interval := fs.Duration("interval", 5*time.Millisecond, "one probe request every interval")
	label := fs.String("label", "", "copied into the KILL line")
	_ = fs.Parse(args)
	if *parent <= 0 || *victim <= 0 {
		fmt.Fprintln(os.Stderr, "killwatch: -parent and -victim are required")
		return 2
	}

	seen := map[int]bool{}
	before := map[int]bool{} // children of parent before the kill
	scanProc(seen, func(pid, ppid int) {
		if ppid == *parent {
			before[pid] = true
		}
	})
	if !before[*victim] {
		fmt.Fprintf(os.Stderr, "killwatch: %d is not a child of %d\n", *victim, *parent)
		return 2
	}

	t0 := time.Now()
	if err := syscall.Kill(*victim, syscall.SIGKILL); err != nil {
		fmt.Fprintln(os.Stderr, "killwatch: kill:", err)
		return 1
	}
	deadline := t0.Add(*timeout)

	// The new process: poll /proc for a child of parent that was not there.
	// Also note when the victim is dead (a zombie: the kernel is done with
	// it) and reaped (gone: its parent waited for it), to tell the kernel's
	// share from the manager's.
	procDone := make(chan struct{})
	var procAt, deadAt, reapedAt time.Duration = -1, -1, -1
	var newPID int
	victimStat := "/proc/" + strconv.Itoa(*victim) + "/stat"
	go func() {
		defer close(procDone)
		for time.Now().Before(deadline) {
			if reapedAt < 0 {
				b, err := os.ReadFile(victimStat)
				switch {
				case err != nil:
					reapedAt = time.Since(t0)
					if deadAt < 0 {
						deadAt = reapedAt
					}
				case deadAt < 0 && isZombie(b):
					deadAt = time.Since(t0)
				}
			}
			found := 0
			scanProc(seen, func(pid, ppid int) {
				if ppid == *parent && !before[pid] && found == 0 {
					found = pid
				}
			})
			if found != 0 {
				procAt, newPID = time.Since(t0), found
				if reapedAt < 0 { // replaced before we saw it go: it went before
					reapedAt = procAt
				}
				if deadAt < 0 {
					deadAt = reapedAt
				}
				return
			}
			time.Sleep(500 * time.Microsecond)
		}
	}()

	// Serving: a probe every interval, each on a fresh connection, until one
	// answers with a pid that was not a child before the kill.
	var mu sync.Mutex
	var serveAt time.Duration = -1
	var servePID, probes, probeFails int
	var slowest time.Duration
	var wg sync.WaitGroup
	stop := make(chan struct{})
	ticker := time.NewTicker(*interval)
loop:
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			break loop
		case <-ticker.C:
		}
		mu.Lock()
		probes++
		mu.Unlock()
		wg.Go(func() {
			p0 := time.Now()
			status, body, err := get(*addr, *path, time.Until(deadline))
			took := time.Since(p0)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			if err != nil || status != 200 {
				probeFails++
				return
			}
			var v struct {
				PID int `json:"pid"`
			}
			if json.Unmarshal(body, &v) != nil || v.PID == 0 || before[v.PID] {
				return
			}
			if serveAt < 0 {
				serveAt, servePID = time.Since(t0), v.PID
				close(stop)
			}
		})
	}
	ticker.Stop()
	wg.Wait()
	<-procDone

	ms := func(d time.Duration) string {
		if d < 0 {
			return "NA"
		}
		return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)
	}
	fmt.Printf("KILL label=%s victim=%d dead_ms=%s reaped_ms=%s proc_ms=%s new_pid=%d serve_ms=%s serve_pid=%d probes=%d probe_fails=%d slowest_probe_ms=%s\n",
		*label, *victim, ms(deadAt), ms(reapedAt), ms(procAt), newPID, ms(serveAt), servePID, probes, probeFails, ms(slowest))
	return 0
}

// isZombie reports whether a /proc/PID/stat line says the process is a zombie
// (or dead): it has exited and waits for its parent to reap it.
func isZombie(stat []byte) bool {
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// scanProc calls fn(pid, ppid) for every process in /proc not in seen yet,
// and marks it seen. Only new pids are read, so a poll costs one readdir.
func scanProc(seen map[int]bool, fn func(pid, ppid int)) {
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || seen[pid] {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		seen[pid] = true
		fn(pid, ppid)
	}
}

// window reads a -requests file and counts the requests that were in flight
// at any time during [from, from+d): they started before its end and ended
// after its start. It prints one WINDOW line:
//
//	requests          in flight during the window
//	ok, slow          answered; of them, answered only after more than -slow
//	failed            not answered with a 2xx:
//	  refused           the connect was refused (nobody listening)
//	  connect_timeout   the connect did not complete within the client's timeout
//	  accepted_reset    connected, then reset or closed without a whole response
//	  accepted_timeout  connected, then no whole response within the timeout
//	  non2xx, other
//	max_ms            the slowest request, failed ones included
//	new_pid, new_pid_ms
//	                  the first pid that answered at or after from and never
//	                  before it (a replacement worker), and when its first
//	                  answer came, in ms after from (NA: none)
func window(args []string) int {
	fs := flag.NewFlagSet("window", flag.ExitOnError)
	file := fs.String("requests", "", "a file load -requests wrote")
	from := fs.Int64("from", 0, "start of the window, Unix time in ns (date +%s%N)")
	dur := fs.Duration("d", 5*time.Second, "length of the window")
	slow := fs.Duration("slow", time.Second, "an answer slower than this counts as slow")
	kind := fs.String("kind", "fresh", "fresh, keepalive, paced or all")
	label := fs.String("label", "", "copied into the WINDOW line")
	_ = fs.Parse(args)
	if *file == "" || *from <= 0 {
		fmt.Fprintln(os.Stderr, "window: -requests and -from are required")
		return 2
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "window:", err)
		return 1
	}
	w, err := countWindow(string(b), time.Unix(0, *from), *dur, *slow, *kind)
	if err != nil {
		fmt.Fprintln(os.Stderr, "window:", err)
		return 1
	}
	fmt.Printf("WINDOW label=%s kind=%s %s\n", *label, *kind, w)
	return 0
}

type windowCounts struct {
	requests, ok, slow, failed             int
	refused, connectTimeout, acceptedReset int
	acceptedTimeout, non2xx, other         int
	maxTook                                time.Duration
	newPID                                 int
	newPIDAt                               time.Duration // after from; -1: none
}

func (w windowCounts) String() string {
	at := "NA"
	if w.newPIDAt >= 0 {
		at = fmt.Sprintf("%.0f", float64(w.newPIDAt.Microseconds())/1000)
	}
	return fmt.Sprintf("requests=%d ok=%d slow=%d failed=%d refused=%d connect_timeout=%d accepted_reset=%d "+
		"accepted_timeout=%d non2xx=%d other=%d max_ms=%.0f new_pid=%d new_pid_ms=%s",
		w.requests, w.ok, w.slow, w.failed, w.refused, w.connectTimeout, w.acceptedReset,
		w.acceptedTimeout, w.non2xx, w.other, float64(w.maxTook.Microseconds())/1000, w.newPID, at)
}

// countWindow does window's counting over the lines of a -requests file.
func countWindow(lines string, from time.Time, d, slow time.Duration, kind string) (windowCounts, error) {
	w := windowCounts{newPIDAt: -1}
	to := from.Add(d)
	type answer struct {
		at  time.Time
		pid int
	}
	var answers []answer
	for n, line := range strings.Split(strings.TrimSpace(lines), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 6 {
			return w, fmt.Errorf("line %d: %q: want 6 fields", n+1, line)
		}
		ns, err1 := strconv.ParseInt(f[0], 10, 64)
		us, err2 := strconv.ParseInt(f[1], 10, 64)
		pid, err3 := strconv.Atoi(f[5])
		if err := errors.Join(err1, err2, err3); err != nil {
			return w, fmt.Errorf("line %d: %w", n+1, err)
		}
		if kind != "all" && f[2] != kind {
			continue
		}
		start := time.Unix(0, ns)
		took := time.Duration(us) * time.Microsecond
		end := start.Add(took)
		if f[3] == "ok" && pid > 0 {
			answers = append(answers, answer{end, pid})
		}
		if !start.Before(to) || !end.After(from) {
			continue
		}
		w.requests++
		w.maxTook = max(w.maxTook, took)
		connected := f[4] == "1"
		switch f[3] {
		case "ok":
			w.ok++
			if took > slow {
				w.slow++
			}
			continue
		case "refused":
			w.refused++
		case "timeout":
			if connected {
				w.acceptedTimeout++
			} else {
				w.connectTimeout++
			}
		case "reset_eof":
			if connected {
				w.acceptedReset++
			} else {
				w.other++ // a reset connect: not seen on loopback
			}
		case "non2xx":
			w.non2xx++
		default:
			w.other++
		}
		w.failed++
	}
	old := map[int]bool{}
	for _, a := range answers {
		if a.at.Before(from) {
			old[a.pid] = true
		}
	}
	for _, a := range answers {
		if !a.at.Before(from) && !old[a.pid] && (w.newPIDAt < 0 || a.at.Sub(from) < w.newPIDAt) {
			w.newPID, w.newPIDAt = a.pid, a.at.Sub(from)
		}
	}
	return w, nil
}
