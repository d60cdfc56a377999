package health

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var clock = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func fixedNow() time.Time { return clock }

func boardWith(s Status) *Board {
	b := new(Board)
	b.Set(s)
	return b
}

// Board states the handler is tested against, with the codes /health and /ready must give and the workers the
// body must report (uptime from the injected clock).
var boards = []struct {
	name          string
	board         func() *Board
	health, ready int
	state         string
	workers       []workerReport
}{
	{
		name:   "zero",
		board:  func() *Board { return new(Board) },
		health: 200, ready: 503, state: "starting",
		workers: []workerReport{},
	},
	{
		name: "running",
		board: func() *Board {
			return boardWith(Status{State: "running", Live: true, Ready: true, Workers: []Worker{
				{Slot: 0, PID: 12, State: "up", Started: clock.Add(-12345 * time.Millisecond)},
				{Slot: 1, PID: 13, State: "up", Restarts: 2, Started: clock.Add(-1500 * time.Millisecond)},
			}})
		},
		health: 200, ready: 200, state: "running",
		workers: []workerReport{
			{Slot: 0, PID: 12, State: "up", UptimeSeconds: 12.345},
			{Slot: 1, PID: 13, State: "up", Restarts: 2, UptimeSeconds: 1.5},
		},
	},
	{
		name: "slot down",
		board: func() *Board {
			return boardWith(Status{State: "running", Live: true, Ready: false, Workers: []Worker{
				{Slot: 0, PID: 12, State: "up", Started: clock.Add(-3 * time.Second)},
				{Slot: 1, State: "backoff", Restarts: 3},
			}})
		},
		health: 200, ready: 503, state: "running",
		workers: []workerReport{
			{Slot: 0, PID: 12, State: "up", UptimeSeconds: 3},
			{Slot: 1, State: "backoff", Restarts: 3},
		},
	},
	{
		name: "starting worker",
		board: func() *Board {
			return boardWith(Status{State: "starting", Live: true, Workers: []Worker{
				{Slot: 0, PID: 40, State: "starting", Started: clock.Add(-250 * time.Millisecond)},
			}})
		},
		health: 200, ready: 503, state: "starting",
		workers: []workerReport{{Slot: 0, PID: 40, State: "starting", UptimeSeconds: 0.25}},
	},
	{
		name: "draining",
		board: func() *Board {
			return boardWith(Status{State: "draining", Live: true, Ready: false, Workers: []Worker{
				{Slot: 0, PID: 12, State: "up", Started: clock.Add(-time.Minute)},
			}})
		},
		health: 200, ready: 503, state: "draining",
		workers: []workerReport{{Slot: 0, PID: 12, State: "up", UptimeSeconds: 60}},
	},
	{
		name: "stopping",
		board: func() *Board {
			return boardWith(Status{State: "stopping", Live: true, Workers: []Worker{
				{Slot: 0, PID: 12, State: "stopping", Started: clock.Add(-time.Second)},
			}})
		},
		health: 200, ready: 503, state: "stopping",
		workers: []workerReport{{Slot: 0, PID: 12, State: "stopping", UptimeSeconds: 1}},
	},
	{
		name: "crash loop",
		board: func() *Board {
			return boardWith(Status{State: "running", Live: false, Workers: []Worker{
				{Slot: 0, State: "backoff", Restarts: 9},
			}})
		},
		health: 503, ready: 503, state: "running",
		workers: []workerReport{{Slot: 0, State: "backoff", Restarts: 9}},
	},
	{
		// A clock that went backwards never gives a negative uptime.
		name: "started in the future",
		board: func() *Board {
			return boardWith(Status{State: "running", Live: true, Ready: true, Workers: []Worker{
				{Slot: 0, PID: 5, State: "up", Started: clock.Add(time.Second)},
			}})
		},
		health: 200, ready: 200, state: "running",
		workers: []workerReport{{Slot: 0, PID: 5, State: "up"}},
	},
}

// recorded is an answer of the server as a client reads it.
type recorded struct {
	Code   int
	Header http.Header // without Connection, which net/http reads into Close
	Close  bool        // "Connection: close"
	Body   []byte
}

// serve renders h's answer to method and path exactly as the server sends it, and reads it back with net/http.
func serve(t testing.TB, h *handler, method, path string) recorded {
	t.Helper()
	raw := h.serve(context.Background(), method, path).appendTo(nil, "HTTP/1.1", method == http.MethodHead, h.now())
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: method})
	if err != nil {
		t.Errorf("%s %s: unreadable answer %q: %v", method, path, raw, err)
		return recorded{}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s %s: body of %q: %v", method, path, raw, err)
	}
	return recorded{Code: resp.StatusCode, Header: resp.Header, Close: resp.Close, Body: body}
}

func decode(t *testing.T, rec recorded) report {
	t.Helper()
	var rep report
	dec := json.NewDecoder(bytes.NewReader(rec.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("body is not a report: %v", err)
	}
	return rep
}

func TestHandlerMatrix(t *testing.T) {
	methods := []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, "BREW",
	}
	for _, bd := range boards {
		for _, path := range []string{"/health", "/ready"} {
			for _, method := range methods {
				t.Run(bd.name+" "+method+" "+path, func(t *testing.T) {
					rec := serve(t, newHandler(bd.board(), nil, fixedNow), method, path)
					want := bd.health
					if path == "/ready" {
						want = bd.ready
					}
					if method != http.MethodGet && method != http.MethodHead {
						want = http.StatusMethodNotAllowed
					}
					if rec.Code != want {
						t.Fatalf("%s %s = %d, want %d", method, path, rec.Code, want)
					}
					if got := rec.Header.Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control = %q, want no-store", got)
					}
					if !rec.Close {
						t.Error("no Connection: close")
					}
					if got, want := rec.Header.Get("Date"), "Wed, 04 Mar 2026 05:06:07 GMT"; got != want {
						t.Errorf("Date = %q, want %q", got, want)
					}
					switch method {
					case http.MethodHead:
						if len(rec.Body) != 0 {
							t.Errorf("HEAD body = %q, want none", rec.Body)
						}
					case http.MethodGet:
						if got := rec.Header.Get("Content-Type"); got != "application/json" {
							t.Errorf("Content-Type = %q, want application/json", got)
						}
						rep := decode(t, rec)
						wantStatus := "ok"
						if want != http.StatusOK {
							wantStatus = "unavailable"
						}
						if rep.Status != wantStatus || rep.State != bd.state || rep.ReadyURLError != "" {
							t.Errorf("body = %+v, want status %q state %q", rep, wantStatus, bd.state)
						}
						if !reflect.DeepEqual(rep.Workers, bd.workers) {
							t.Errorf("workers = %+v, want %+v", rep.Workers, bd.workers)
						}
					default:
						if got := rec.Header.Get("Allow"); got != "GET, HEAD" {
							t.Errorf("Allow = %q, want %q", got, "GET, HEAD")
						}
					}
				})
			}
		}
	}
}

// HEAD gets exactly GET's status and headers, Content-Length included, and no body.
func TestHandlerHeadMatchesGet(t *testing.T) {
	for _, bd := range boards {
		for _, path := range []string{"/health", "/ready", "/nope"} {
			t.Run(bd.name+" "+path, func(t *testing.T) {
				h := newHandler(bd.board(), nil, fixedNow)
				get, head := serve(t, h, http.MethodGet, path), serve(t, h, http.MethodHead, path)
				if head.Code != get.Code {
					t.Errorf("HEAD = %d, GET = %d", head.Code, get.Code)
				}
				if !reflect.DeepEqual(head.Header, get.Header) {
					t.Errorf("HEAD headers %v, GET headers %v", head.Header, get.Header)
				}
				if len(head.Body) != 0 {
					t.Errorf("HEAD body = %q, want none", head.Body)
				}
				if cl := get.Header.Get("Content-Length"); cl == "" || cl == "0" {
					t.Errorf("GET Content-Length = %q", cl)
				}
			})
		}
	}
}

func TestHandlerNotFound(t *testing.T) {
	h := newHandler(boardWith(Status{State: "running", Live: true, Ready: true}), nil, fixedNow)
	paths := []string{"/", "/healthz", "/health/", "/ready/", "/readyz", "/Health", "/health/x", "/metrics/", "/Metrics"}
	for _, path := range paths {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			t.Run(method+" "+path, func(t *testing.T) {
				rec := serve(t, h, method, path)
				if rec.Code != http.StatusNotFound {
					t.Fatalf("%s %s = %d, want 404", method, path, rec.Code)
				}
				if rec.Header.Get("Allow") != "" {
					t.Errorf("404 carries Allow: %q", rec.Header.Get("Allow"))
				}
			})
		}
	}
}

// /health never runs the probe; /ready runs it only when the board says Ready, and its verdict decides.
func TestHandlerProbe(t *testing.T) {
	ready := func() *Board { return boardWith(Status{State: "running", Live: true, Ready: true}) }
	notReady := func() *Board { return boardWith(Status{State: "running", Live: true}) }
	fail := errors.New("GET http://127.0.0.1:8080/healthz: 500 Internal Server Error")
	tests := []struct {
		name      string
		board     func() *Board
		path      string
		probeErr  error
		nilProbe  bool
		wantCode  int
		wantCalls int32
		wantError string
	}{
		{name: "no probe", board: ready, path: "/ready", nilProbe: true, wantCode: 200},
		{name: "probe passes", board: ready, path: "/ready", wantCode: 200, wantCalls: 1},
		{name: "probe fails", board: ready, path: "/ready", probeErr: fail, wantCode: 503, wantCalls: 1, wantError: fail.Error()},
		{name: "not ready skips probe", board: notReady, path: "/ready", probeErr: fail, wantCode: 503},
		{name: "health ignores probe", board: ready, path: "/health", probeErr: fail, wantCode: 200},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				var calls atomic.Int32
				var probe func(context.Context) error
				if !tt.nilProbe {
					probe = func(ctx context.Context) error {
						calls.Add(1)
						if _, ok := ctx.Deadline(); !ok {
							t.Error("probe context has no deadline")
						}
						return tt.probeErr
					}
				}
				rec := serve(t, newHandler(tt.board(), probe, fixedNow), method, tt.path)
				if rec.Code != tt.wantCode {
					t.Fatalf("%s %s = %d, want %d", method, tt.path, rec.Code, tt.wantCode)
				}
				if got := calls.Load(); got != tt.wantCalls {
					t.Errorf("probe called %d times, want %d", got, tt.wantCalls)
				}
				if method == http.MethodHead {
					return
				}
				if rep := decode(t, rec); rep.ReadyURLError != tt.wantError {
					t.Errorf("ready_url_error = %q, want %q", rep.ReadyURLError, tt.wantError)
				}
			})
		}
	}
}

// appServer stands in for the application behind READY_URL.
func appServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// /ready with a real READY_URL probe: 2xx is ready, anything else (including a redirect, a refused connection and
// an application that does not answer within 1 s) is 503 with the reason in the body.
func TestHandlerProbeURL(t *testing.T) {
	release := make(chan struct{})
	ok := appServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
	noContent := appServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	broken := appServer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "db down", http.StatusInternalServerError) })
	redirect := appServer(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	slow := appServer(t, func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the probe gives up (or the test ends)
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the servers' Close, which waits for handlers
	refused := appServer(t, func(http.ResponseWriter, *http.Request) {})
	refused.Close()

	tests := []struct {
		name      string
		url       string
		wantCode  int
		wantError string // substring of ready_url_error; "" means none
	}{
		{"200", ok.URL + "/healthz", 200, ""},
		{"204", noContent.URL, 200, ""},
		{"500", broken.URL + "/healthz", 503, "500 Internal Server Error"},
		{"302 not followed", redirect.URL, 503, "302 Found"},
		{"slow", slow.URL, 503, "no answer within 1s"},
		{"refused", refused.URL, 503, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(boardWith(Status{State: "running", Live: true, Ready: true}), readyProbe(tt.url), time.Now)
			begin := time.Now()
			rec := serve(t, h, http.MethodGet, "/ready")
			if took := time.Since(begin); took > 5*time.Second { // generous: the probe gives up after 1 s
				t.Errorf("/ready took %v", took)
			}
			if rec.Code != tt.wantCode {
				t.Fatalf("/ready = %d, want %d (body %s)", rec.Code, tt.wantCode, rec.Body)
			}
			rep := decode(t, rec)
			if tt.wantError == "" && rep.ReadyURLError != "" || !strings.Contains(rep.ReadyURLError, tt.wantError) {
				t.Errorf("ready_url_error = %q, want it to mention %q", rep.ReadyURLError, tt.wantError)
			}
		})
	}
}

// Handlers read the board while the supervisor publishes; run with -race.
func TestHandlerConcurrentWithSet(t *testing.T) {
	b := new(Board)
	h := newHandler(b, nil, time.Now)
	stop, writerDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b.Set(Status{State: "running", Live: true, Ready: i%2 == 0, Workers: []Worker{{PID: i, State: "up", Started: time.Now()}}})
		}
	}()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for range 200 {
				for _, path := range []string{"/health", "/ready"} {
					if rec := serve(t, h, http.MethodGet, path); rec.Code != 200 && rec.Code != 503 {
						t.Errorf("GET %s = %d", path, rec.Code)
					}
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	<-writerDone
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startServer runs a health server for board on a free loopback port until the test ends.
func startServer(t *testing.T, board *Board, readyURL string) *Server {
	t.Helper()
	s, err := Listen(Options{Addr: "127.0.0.1:0", ReadyURL: readyURL, Logger: quietLogger()}, board)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestListenAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	s, err := Listen(Options{Addr: addr, Logger: quietLogger()}, new(Board))
	if err == nil {
		s.Close()
		t.Fatalf("Listen(%s) on a taken port succeeded", addr)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "health server: ") || !strings.Contains(msg, addr) || !strings.Contains(msg, "address already in use") {
		t.Errorf("error = %q, want it to start with %q and name %s and the cause", msg, "health server: ", addr)
	}
}

func TestListenRejectsNoAddress(t *testing.T) {
	for _, addr := range []string{"", "none"} {
		if s, err := Listen(Options{Addr: addr}, new(Board)); err == nil {
			s.Close()
			t.Errorf("Listen(%q) succeeded, want an error", addr)
		}
	}
}

// A client that sends half a request and stalls holds only its own connection: others are answered meanwhile,
// and the server drops the stalled one once ReadHeaderTimeout has passed.
func TestSlowClientDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	s := startServer(t, boardWith(Status{State: "running", Live: true, Ready: true}), "")
	addr := s.Addr().String()

	var stalled []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: pinit\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}

	// Check's own timeout is the only clock here, and a generous one: a server that served connections one at a
	// time would need len(stalled)*defaultLimits.headTimeout (40 s) to get through the stalled clients first.
	timeout := 5 * defaultLimits.headTimeout
	if err := Check(addr, "live", timeout); err != nil {
		t.Fatalf("check while %d clients stall: %v", len(stalled), err)
	}
	if err := Check(addr, "ready", timeout); err != nil {
		t.Fatalf("ready check while %d clients stall: %v", len(stalled), err)
	}

	// The stalled connection is closed by the server (EOF), not left open until our generous deadline.
	c := stalled[0]
	if err := c.SetReadDeadline(time.Now().Add(5 * defaultLimits.headTimeout)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(make([]byte, 512))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("stalled connection still open after %v", 5*defaultLimits.headTimeout)
	}
	if err == nil {
		t.Logf("server answered the stalled client with %d bytes before closing", n)
	}
}

// Close ends serving: the port stops answering, Serve after Close does nothing, a second Close is harmless.
func TestServerClose(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Logger: quietLogger()}, new(Board))
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	s.Serve()
	s.Serve() // no second goroutine, no panic
	if err := Check(addr, "live", 5*time.Second); err != nil {
		t.Fatalf("check before Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := Check(addr, "live", 5*time.Second); err == nil {
		t.Fatal("check after Close succeeded")
	}
	s.Serve()
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A server that was never served releases its port on Close.
func TestServerCloseWithoutServe(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Logger: quietLogger()}, new(Board))
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	ln.Close()
}

// Close does not wait for a client that holds a connection open mid-request.
func TestServerCloseWithStalledClient(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Logger: quietLogger()}, new(Board))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second): // generous: Close gives requests shutdownTimeout
		t.Fatal("Close hung on a stalled client")
	}
}

// The server, read by net/http's client: HEAD carries GET's Content-Length and no body, 405 names what is allowed.
func TestServerOverHTTP(t *testing.T) {
	s := startServer(t, boardWith(Status{State: "running", Live: true, Ready: true}), "")
	base := "http://" + s.Addr().String()
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/health", 200},
		{http.MethodHead, "/health", 200},
		{http.MethodGet, "/ready", 200},
		{http.MethodHead, "/ready", 200},
		{http.MethodPost, "/health", 405},
		{http.MethodDelete, "/ready", 405},
		{http.MethodGet, "/", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
			if tt.want == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
			if tt.method == http.MethodHead && (len(body) != 0 || resp.ContentLength <= 0) {
				t.Errorf("HEAD: body %q, Content-Length %d; want no body and GET's length", body, resp.ContentLength)
			}
		})
	}
}

// Close does not wait for a slow READY_URL: after the grace it cuts the connection and ends the probe in flight.
func TestServerCloseEndsProbe(t *testing.T) {
	asked, release := make(chan struct{}, 1), make(chan struct{})
	app := appServer(t, func(w http.ResponseWriter, r *http.Request) {
		asked <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	s, err := Listen(Options{Addr: "127.0.0.1:0", ReadyURL: app.URL, Logger: quietLogger()}, boardWith(Status{State: "running", Live: true, Ready: true}))
	if err != nil {
		t.Fatal(err)
	}
	s.lim.grace = 50 * time.Millisecond
	s.Serve()

	answer := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			answer <- err.Error()
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /ready HTTP/1.1\r\nHost: pinit\r\n\r\n")
		got, _ := io.ReadAll(c)
		answer <- string(got)
	}()
	<-asked
	begin := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(begin); took >= probeTimeout*8/10 {
		t.Errorf("Close took %v: it waited for the probe", took)
	}
	if got := <-answer; got != "" {
		t.Logf("the client got %q", got)
	}
}
