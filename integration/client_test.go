package integration

// The HTTP side of the harness, shared by the pool, health, uvicorn and
// Docker tests: clients for the workers' port and the health server, a load
// generator that counts failed requests, and what the kernel says about the
// port's sockets (/proc/net/tcp).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// requestTimeout bounds one request to a worker. It is long: a request may
// wait in a slot's queue while a loaded machine starts a new uvicorn.
const requestTimeout = 30 * time.Second

// hello is what GET / (and /slow) of the test worker and of the FastAPI app answer.
type hello struct {
	WorkerID  string `json:"worker_id"`
	PID       int    `json:"pid"`
	ListenPID int    `json:"listen_pid"`
}

// healthReport is the JSON body of /health and /ready.
type healthReport struct {
	Status   string `json:"status"`
	State    string `json:"state"`
	Steering string `json:"steering"`
	Workers  []struct {
		Slot     int     `json:"slot"`
		PID      int     `json:"pid"`
		State    string  `json:"state"`
		Restarts int     `json:"restarts"`
		Uptime   float64 `json:"uptime_seconds"`
		Queue    int     `json:"accept_queue"`
	} `json:"workers"`
}

// pids lists the workers' pids (as pinit sees them: in its PID namespace).
func (r healthReport) pids() []int {
	var pids []int
	for _, w := range r.Workers {
		pids = append(pids, w.PID)
	}
	return pids
}

// allUp reports whether the report lists n workers, each up with its own pid.
func (r healthReport) allUp(n int) bool {
	if len(r.Workers) != n {
		return false
	}
	seen := map[int]bool{}
	for _, w := range r.Workers {
		if w.State != "up" || w.PID == 0 || seen[w.PID] {
			return false
		}
		seen[w.PID] = true
	}
	return true
}

// freshClient opens a new connection for every request.
func freshClient() *http.Client {
	return &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
}

// keepAliveClient keeps one connection open across requests. Like every
// HTTP client, it retries an idempotent request once on a fresh connection
// when a kept-alive one turns out to have been closed by the server (RFC
// 9110 §9.2.2): that is how keep-alive ends, not a failure.
func keepAliveClient() *http.Client {
	return &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1},
	}
}

// getHello GETs url and decodes the worker's answer; any status but 200 is an error.
func getHello(c *http.Client, url string) (hello, error) {
	var h hello
	resp, err := c.Get(url)
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return h, fmt.Errorf("GET %s: %s: reading body: %w", url, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, &h); err != nil || h.PID == 0 {
		return h, fmt.Errorf("GET %s: not a worker's answer: %q", url, body)
	}
	return h, nil
}

// mustHello is getHello on a fresh connection, failing the test on error.
func mustHello(t *testing.T, url string) hello {
	t.Helper()
	h, err := getHello(freshClient(), url)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// health GETs path ("/health" or "/ready") from the health server at addr and
// returns the status code and the decoded report; code 0 when nothing answered.
func health(addr, path string) (int, healthReport, error) {
	var rep healthReport
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, rep, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, rep, err
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return resp.StatusCode, rep, fmt.Errorf("GET %s: not a health report: %q", path, body)
	}
	return resp.StatusCode, rep, nil
}

// waitHealth polls path on addr until it answers code and cond (nil: any
// report) holds, and returns the report.
func waitHealth(t *testing.T, addr, path string, code int, timeout time.Duration, cond func(healthReport) bool) healthReport {
	t.Helper()
	var rep healthReport
	var last string
	answered := false
	defer func() {
		if !answered {
			t.Logf("the last answer of %s was: %s", path, last)
		}
	}()
	eventually(t, timeout, fmt.Sprintf("%s answers %d", path, code), func() bool {
		c, r, err := health(addr, path)
		rep, last = r, fmt.Sprintf("%d %+v %v", c, r, err)
		return err == nil && c == code && (cond == nil || cond(r))
	})
	answered = true
	return rep
}

// waitPoolUp waits until /ready says 200 with n workers up, and returns the report.
func waitPoolUp(t *testing.T, healthAddr string, n int) healthReport {
	t.Helper()
	return waitHealth(t, healthAddr, "/ready", 200, 60*time.Second, func(r healthReport) bool { return r.allUp(n) })
}

// serversSeen sends n requests on fresh connections and returns the answers
// by worker pid. A request that fails fails the test.
func serversSeen(t *testing.T, url string, n int) map[int]hello {
	t.Helper()
	seen := map[int]hello{}
	c := freshClient()
	for range n {
		h, err := getHello(c, url)
		if err != nil {
			t.Fatal(err)
		}
		seen[h.PID] = h
	}
	return seen
}

// waitServers sends requests on fresh connections until the answers have come
// from want distinct pids, and returns them by pid.
func waitServers(t *testing.T, url string, want int, timeout time.Duration) map[int]hello {
	t.Helper()
	seen := map[int]hello{}
	c := freshClient()
	eventually(t, timeout, fmt.Sprintf("requests reach %d distinct workers", want), func() bool {
		h, err := getHello(c, url)
		if err != nil {
			t.Fatal(err)
		}
		seen[h.PID] = h
		return len(seen) >= want
	})
	return seen
}

// loadStats counts one kind of request of a load.
type loadStats struct {
	ok, failed atomic.Int64
}

// load is a client loop of our own against a worker port: some goroutines
// open a fresh connection per request, others keep theirs alive. A failed
// request is an error from the client (connection refused, reset, EOF, a
// timeout) or any status but 200.
//
// The keep-alive goroutines use http.Transport as it is, which behaves like
// every HTTP/1.1 client: when a server closes a kept-alive connection just as
// a request goes out on it, and no byte of an answer came back, it sends an
// idempotent request once more on a new connection (RFC 9110 §9.2.2). Those
// are counted as retries, not failures: that is how keep-alive ends. A fresh
// connection is never retried.
type load struct {
	fresh, keep loadStats
	reused      atomic.Int64 // keep-alive requests that went on an already open connection
	retried     atomic.Int64 // requests the transport sent again on a new connection
	heldBack    atomic.Int64 // goroutines ended by holdBack: they wanted a new connection
	heldRetry   atomic.Int64 // of those, the ones that wanted it to send a request again
	held        atomic.Bool  // no new connection: see holdBack
	mu          sync.Mutex
	pids        map[int]int   // answers by worker pid
	answered    []answer      // every request answered, in the order they ended
	failures    []loadFailure // the first few hundred
	stop        chan struct{}
	wg, freshWG sync.WaitGroup
}

// answer is one request of a load that was answered.
type answer struct {
	sent time.Time
	took time.Duration
	pid  int
}

// slowSince lists the requests sent after since that took longer than limit,
// and the requests sent after since that failed.
func (l *load) slowSince(since time.Time, limit time.Duration) (slow []answer, failed []loadFailure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.answered {
		if a.sent.After(since) && a.took > limit {
			slow = append(slow, a)
		}
	}
	for _, f := range l.failures {
		if f.sent.After(since) {
			failed = append(failed, f)
		}
	}
	return slow, failed
}

// answeredBy lists the requests the worker pid answered.
func (l *load) answeredBy(pid int) []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []answer
	for _, a := range l.answered {
		if a.pid == pid {
			out = append(out, a)
		}
	}
	return out
}

// errHeldBack is the dial error of a load held back.
var errHeldBack = errors.New("held back: no new connection")

// loadFailure is one failed request of a load.
type loadFailure struct {
	sent     time.Time // when the request began
	at       time.Time // when it failed
	kind     string    // "fresh" or "keep-alive"
	attempts int       // connections the request was tried on (2: retried)
	reused   bool      // the last of them was an already open connection
	err      error
}

func (f loadFailure) String() string {
	conn := "new connection"
	if f.reused {
		conn = "reused connection"
	}
	return fmt.Sprintf("%s %s (%d attempts, last on a %s): %v", f.at.Format("15:04:05.000"), f.kind, f.attempts, conn, f.err)
}

// refused reports whether the request failed because nothing listened: no
// socket of the port accepted the connection.
func (f loadFailure) refused() bool { return errors.Is(f.err, syscall.ECONNREFUSED) }

// startLoad starts fresh goroutines that each open a new connection per
// request and keep goroutines that each keep one connection alive, all
// GETting url until l.halt.
func startLoad(t *testing.T, url string, fresh, keep int) *load {
	l := &load{pids: map[int]int{}, stop: make(chan struct{})}
	dialer := &net.Dialer{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if l.held.Load() {
			return nil, errHeldBack
		}
		return dialer.DialContext(ctx, network, addr)
	}
	run := func(c *http.Client, st *loadStats, kind string) {
		defer l.wg.Done()
		c.Transport.(*http.Transport).DialContext = dial
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			var attempts int
			var reused bool
			trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
				attempts++
				reused = ci.Reused
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, url, nil)
			sent := time.Now()
			h, err := doHello(c, req)
			// GotConn runs in this goroutine, in c.Do: attempts is final now.
			if attempts > 1 {
				l.retried.Add(int64(attempts - 1))
			}
			if err != nil {
				if t.Context().Err() != nil {
					return
				}
				if errors.Is(err, errHeldBack) {
					l.heldBack.Add(1)
					if attempts > 0 {
						l.heldRetry.Add(1)
					}
					return
				}
				st.failed.Add(1)
				l.mu.Lock()
				if len(l.failures) < 500 {
					l.failures = append(l.failures, loadFailure{sent, time.Now(), kind, attempts, reused, err})
				}
				l.mu.Unlock()
				continue
			}
			if reused {
				l.reused.Add(1)
			}
			st.ok.Add(1)
			l.mu.Lock()
			l.pids[h.PID]++
			l.answered = append(l.answered, answer{sent, time.Since(sent), h.PID})
			l.mu.Unlock()
		}
	}
	for range fresh {
		l.wg.Add(1)
		l.freshWG.Add(1)
		go func() {
			defer l.freshWG.Done()
			run(freshClient(), &l.fresh, "fresh")
		}()
	}
	for range keep {
		l.wg.Add(1)
		go run(keepAliveClient(), &l.keep, "keep-alive")
	}
	t.Cleanup(l.halt)
	return l
}

func doHello(c *http.Client, req *http.Request) (hello, error) {
	resp, err := c.Do(req)
	if err != nil {
		return hello{}, err
	}
	defer resp.Body.Close()
	return doHelloResponse(resp)
}

// doHelloResponse reads a worker's answer; any status but 200 is an error.
func doHelloResponse(resp *http.Response) (hello, error) {
	var h hello
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return h, fmt.Errorf("%s: reading body: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("%s: %q", resp.Status, body)
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, fmt.Errorf("not a worker's answer: %q", body)
	}
	return h, nil
}

// holdBack is what a load balancer does when it takes the pool out: no new
// connection is opened from now on (a request that needs one ends its
// goroutine, counted in heldBack), while kept-alive connections carry on. It
// returns once the fresh requests in flight have ended.
func (l *load) holdBack() {
	l.held.Store(true)
	l.freshWG.Wait()
}

// halt stops the load and waits for its requests in flight.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// total is how many requests succeeded so far.
func (l *load) total() int64 { return l.fresh.ok.Load() + l.keep.ok.Load() }

// waitMore waits until n more requests have succeeded than when it was called.
func (l *load) waitMore(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	base := l.total()
	eventually(t, timeout, fmt.Sprintf("%d more requests succeed", n), func() bool { return l.total() >= base+n })
}

// check logs the counts and fails the test if any request failed, but those
// excused says are not pinit's doing nor the client's to retry (nil excuses
// nothing). Call it after halt.
func (l *load) check(t *testing.T, excused func(loadFailure) bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: fresh requests %d ok, %d failed; keep-alive requests %d ok (%d on a reused connection), %d failed; "+
		"transparent retries %d; answers by pid %v",
		l.fresh.ok.Load(), l.fresh.failed.Load(), l.keep.ok.Load(), l.reused.Load(), l.keep.failed.Load(),
		l.retried.Load(), l.pids)
	var failed, excuses []string
	for _, f := range l.failures {
		if excused != nil && excused(f) {
			excuses = append(excuses, f.String())
		} else {
			failed = append(failed, f.String())
		}
	}
	if len(excuses) > 0 {
		t.Logf("%d failures excused:\n%s", len(excuses), strings.Join(excuses, "\n"))
	}
	if n := l.fresh.failed.Load() + l.keep.failed.Load(); n > int64(len(l.failures)) {
		failed = append(failed, fmt.Sprintf("and %d more", n-int64(len(l.failures))))
	}
	if len(failed) > 0 {
		t.Errorf("%d requests failed:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	if l.fresh.ok.Load() == 0 || l.keep.ok.Load() == 0 || l.reused.Load() == 0 {
		t.Errorf("the load did not exercise both kinds of connection")
	}
}

// refused lists the requests that failed with a refused connection.
func (l *load) refused() []loadFailure {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loadFailure
	for _, f := range l.failures {
		if f.refused() {
			out = append(out, f)
		}
	}
	return out
}

// sockets is what /proc/net/tcp says about the IPv4 TCP sockets bound to
// 127.0.0.1:port: how many listen (one per slot: pinit and the slot's worker
// share it), how many connections wait in their accept queues, how many are
// established (accepted or queued), and how many of those hold bytes the
// server has not read yet.
type sockets struct{ listening, queued, established, unread int }

func tcpSockets(port int) sockets {
	var s sockets
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return sockets{-1, -1, -1, -1}
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != want {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, _ := strconv.ParseInt(rx, 16, 64)
		switch f[3] {
		case "0A": // LISTEN: rx_queue is the accept queue's length
			s.listening++
			s.queued += int(n)
		case "01": // ESTABLISHED: rx_queue is the bytes received and not read
			s.established++
			if n > 0 {
				s.unread++
			}
		}
	}
	return s
}

// isResetOrEOF reports whether err is a connection the server reset or
// closed before it answered (not a refused one, not an HTTP status).
func isResetOrEOF(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// rawRequest writes a GET request for path on conn.
func rawRequest(conn net.Conn, path string) error {
	_, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: pinit-test\r\nConnection: close\r\n\r\n", path)
	return err
}
