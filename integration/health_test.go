package integration

// The health server, black box: /health and /ready over HTTP, in pool and
// init mode, READY_URL, the `pinit --check` client, and clients that
// misbehave.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestHealthServerHTTP(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), map[string]string{"WORKERS": "1"})
	waitPoolUp(t, p.healthAddr, 1)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	do := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+p.healthAddr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp, body
	}

	for _, path := range []string{"/health", "/ready"} {
		resp, body := do(http.MethodGet, path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %s %q, want 200 application/json", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		var rep struct {
			Status, State *string
			Workers       []map[string]any
		}
		if err := json.Unmarshal(body, &rep); err != nil || rep.Status == nil || rep.State == nil || len(rep.Workers) != 1 {
			t.Errorf("GET %s: body %q, want status, state and one worker", path, body)
		} else {
			for _, k := range []string{"slot", "pid", "state", "restarts", "uptime_seconds"} {
				if _, ok := rep.Workers[0][k]; !ok {
					t.Errorf("GET %s: the worker has no %q: %s", path, k, body)
				}
			}
		}

		resp, body = do(http.MethodHead, path)
		if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") == "" || resp.Header.Get("Content-Length") == "0" {
			t.Errorf("HEAD %s: %s, Content-Length %q, body %q: want 200, the GET's length, no body",
				path, resp.Status, resp.Header.Get("Content-Length"), body)
		}
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			resp, _ := do(method, path)
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
				t.Errorf("%s %s: %s, Allow %q; want 405 with Allow: GET, HEAD", method, path, resp.Status, resp.Header.Get("Allow"))
			}
		}
	}
	for _, path := range []string{"/", "/healthz", "/health/x", "/readyz", "/metrics/x"} {
		if resp, _ := do(http.MethodGet, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

func TestHealthSlowClientsDoNotStall(t *testing.T) {
	t.Parallel()
	t.Run("40 connections", func(t *testing.T) {
		t.Parallel()
		testSlowClients(t, 40)
	})
	// One slowloris client opens hundreds: more than the server's cap on
	// connections served at once (256).
	t.Run("300 connections", func(t *testing.T) {
		t.Parallel()
		testSlowClients(t, 300)
	})
}

// testSlowClients: while slow clients hold n connections to the health
// server, others still get their answer from /health.
func testSlowClients(t *testing.T, n int) {
	ha := addr(t)
	start(t, opts{env: map[string]string{"HEALTH_LISTEN": ha}, pidns: true}, workerBin, "sleep", "120s")
	waitHealth(t, ha, "/ready", 200, 30*time.Second, nil)

	// Slow clients: half trickle a request's headers a line at a time, half
	// connect and say nothing. Each connects again when the server drops it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var connected atomic.Int32 // slow clients that have connected at least once
	for i := range n {
		wg.Add(1)
		go func(trickle bool) {
			defer wg.Done()
			first := true
			for {
				conn, err := net.Dial("tcp", ha)
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
						continue
					}
				}
				if first {
					connected.Add(1)
					first = false
				}
				if trickle {
					_, err = fmt.Fprint(conn, "GET /health HTTP/1.1\r\nHost: pinit\r\n")
				}
				for err == nil {
					select {
					case <-stop:
						conn.Close()
						return
					case <-time.After(100 * time.Millisecond):
					}
					if trickle {
						_, err = fmt.Fprint(conn, "X-Slow: 1\r\n")
					} else {
						// Said nothing, so a read says whether the server dropped us.
						_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
						var b [1]byte
						if _, rerr := conn.Read(b[:]); rerr != nil && !isTimeout(rerr) {
							err = rerr
						}
					}
				}
				conn.Close()
			}
		}(i%2 == 0)
	}
	defer func() { close(stop); wg.Wait() }()
	eventually(t, 30*time.Second, "the slow clients are connected", func() bool { return int(connected.Load()) == n })

	// Meanwhile, others get their answer. A server that served one
	// connection at a time would make these wait for every slow client in
	// turn (2 s each, the header timeout).
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for range 20 {
		resp, err := c.Get("http://" + ha + "/health")
		if err != nil {
			t.Fatalf("/health while %d slow connections are open: %v", n, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/health while %d slow connections are open: %s", n, resp.Status)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestHealthInitMode(t *testing.T) {
	t.Parallel()
	ha := addr(t)
	p := start(t, opts{env: map[string]string{"HEALTH_LISTEN": ha, "GRACE_TIMEOUT": "30s"}, pidns: true},
		workerBin, "signals", "--stay")
	p.waitStdout("ready\n", 30*time.Second)
	rep := waitHealth(t, ha, "/ready", 200, 30*time.Second, nil)
	if len(rep.Workers) != 1 || rep.Workers[0].PID <= 1 || rep.Workers[0].State != "up" {
		t.Fatalf("/ready in init mode: %+v, want the child, up", rep)
	}
	if code, rep, err := health(ha, "/health"); code != 200 {
		t.Errorf("/health while the child runs: %d %+v %v", code, rep, err)
	}
	child := p.hostPID(rep.Workers[0].PID)

	// From SIGTERM on, not ready; still live while the child winds down.
	p.signal(syscall.SIGTERM)
	p.waitStdout("got SIGTERM\n", 10*time.Second)
	waitHealth(t, ha, "/ready", 503, 10*time.Second, nil)
	if code, rep, err := health(ha, "/health"); code != 200 {
		t.Errorf("/health while the child stops: %d %+v %v", code, rep, err)
	}
	kill(t, child, syscall.SIGKILL)
	if code := p.wait(30 * time.Second); code != 128+int(syscall.SIGKILL) {
		t.Errorf("pinit exited %d, want %d (child killed by SIGKILL)", code, 128+int(syscall.SIGKILL))
	}
}

func TestHealthReadyURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		url    func(listen string) string
		ready  int
		reason string
	}{
		{"app", func(listen string) string { return "http://" + listen + "/" }, 200, ""},
		{"app 404", func(listen string) string { return "http://" + listen + "/nope" }, 503, "404"},
		{"dead port", func(string) string { return fmt.Sprintf("http://127.0.0.1:%d/", port(t)) }, 503, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			listen := addr(t)
			p := startPool(t, testWorker("serve"), map[string]string{"LISTEN": listen, "READY_URL": tc.url(listen)})
			// Every worker up, by the pool's own account.
			waitHealth(t, p.healthAddr, "/health", 200, 60*time.Second, func(r healthReport) bool { return r.allUp(2) })
			var code int
			var body string
			for range 5 { // not a fluke
				code, body = rawGet(t, p.healthAddr, "/ready")
				if code != tc.ready {
					t.Fatalf("/ready with READY_URL=%s: %d %s, want %d", tc.url(listen), code, body, tc.ready)
				}
			}
			if tc.reason != "" && (!strings.Contains(body, `"ready_url_error"`) || !strings.Contains(body, tc.reason)) {
				t.Errorf("/ready body %s: want ready_url_error saying %q", body, tc.reason)
			}
			want := map[string]int{"": 0, "live": 0, "ready": 0}
			if tc.ready != 200 {
				want["ready"] = 1
			}
			for which, w := range want {
				if code, _, stderr := checkCmd(t, p.healthAddr, which); code != w {
					t.Errorf("pinit --check %s: exit %d, want %d; stderr: %s", which, code, w, stderr)
				}
			}
		})
	}
}

// rawGet GETs path from addr and returns the status code and body.
func rawGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// checkCmd runs `pinit --check [which]` with HEALTH_LISTEN=healthListen and
// returns its exit status, how long it took and its stderr.
func checkCmd(t *testing.T, healthListen, which string) (int, time.Duration, string) {
	t.Helper()
	args := []string{"--check"}
	if which != "" {
		args = append(args, which)
	}
	begin := time.Now()
	p, code := run(t, opts{env: map[string]string{"HEALTH_LISTEN": healthListen}}, args...)
	return code, time.Since(begin), p.stderr.String()
}

func TestHealthCheckCommand(t *testing.T) {
	t.Parallel()
	t.Run("live and ready", func(t *testing.T) {
		t.Parallel()
		p := startPool(t, testWorker("serve"), nil)
		waitPoolUp(t, p.healthAddr, 2)
		_, hp, _ := net.SplitHostPort(p.healthAddr)
		for _, hl := range []string{p.healthAddr, ":" + hp} { // ":port" means loopback
			for _, which := range []string{"", "live", "ready"} {
				if code, _, stderr := checkCmd(t, hl, which); code != 0 {
					t.Errorf("HEALTH_LISTEN=%s pinit --check %s: exit %d, want 0; stderr: %s", hl, which, code, stderr)
				}
			}
		}
	})
	t.Run("crash-looping", func(t *testing.T) {
		t.Parallel()
		p := startPool(t, testWorker("crash"), map[string]string{"WORKERS": "1"})
		waitHealth(t, p.healthAddr, "/health", 503, 30*time.Second, nil)
		for _, which := range []string{"", "live", "ready"} {
			if code, _, stderr := checkCmd(t, p.healthAddr, which); code != 1 {
				t.Errorf("pinit --check %s: exit %d, want 1; stderr: %s", which, code, stderr)
			}
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		t.Parallel()
		hl := addr(t)
		for _, which := range []string{"", "ready"} {
			code, took, stderr := checkCmd(t, hl, which)
			if code != 1 {
				t.Errorf("pinit --check %s with nothing on %s: exit %d, want 1; stderr: %s", which, hl, code, stderr)
			}
			if !strings.Contains(stderr, "refused") {
				t.Errorf("pinit --check %s: stderr %q does not say the connection was refused", which, stderr)
			}
			// The hint: --check asks the address in its own HEALTH_LISTEN.
			if !strings.Contains(stderr, "HEALTH_LISTEN") || !strings.Contains(stderr, hl) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("pinit --check %s: stderr %q, want one line naming HEALTH_LISTEN and %s", which, stderr, hl)
			}
			// Refused at once; the bound leaves room for starting a process on a loaded machine.
			if took > 8*time.Second {
				t.Errorf("pinit --check %s took %s, want well within its 2s", which, took)
			}
		}
	})
	t.Run("nothing listening on the default", func(t *testing.T) {
		t.Parallel()
		// HEALTH_LISTEN unset: --check asks :8081, and says so. Whatever
		// listens on 8081 here, if anything, is not asked about: only a
		// refusal has to carry the hint.
		p, code := run(t, opts{env: map[string]string{"HEALTH_LISTEN": ""}}, "--check")
		if stderr := p.stderr.String(); code == 1 && strings.Contains(stderr, "refused") &&
			(!strings.Contains(stderr, "HEALTH_LISTEN") || !strings.Contains(stderr, ":8081")) {
			t.Errorf("pinit --check with HEALTH_LISTEN unset: stderr %q, want it to name HEALTH_LISTEN and :8081", stderr)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		// Accepts connections and never answers: --check gives up at its 2 s bound.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		defer func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		}()
		code, took, stderr := checkCmd(t, ln.Addr().String(), "")
		if code != 1 {
			t.Errorf("pinit --check against a server that never answers: exit %d, want 1; stderr: %s", code, stderr)
		}
		// 2 s, and room for starting the process on a loaded machine.
		if took > 8*time.Second {
			t.Errorf("pinit --check took %s against a server that never answers, want about 2s", took)
		}
	})
}
