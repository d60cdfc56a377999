package health

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		addr, which string
		want        string // "" means an error
	}{
		{":8081", "", "http://127.0.0.1:8081/health"},
		{":8081", "live", "http://127.0.0.1:8081/health"},
		{":8081", "ready", "http://127.0.0.1:8081/ready"},
		{"0.0.0.0:8081", "", "http://127.0.0.1:8081/health"},
		{"[::]:8081", "", "http://[::1]:8081/health"},
		{"[0:0:0:0:0:0:0:0]:8081", "ready", "http://[::1]:8081/ready"},
		{"127.0.0.1:9000", "", "http://127.0.0.1:9000/health"},
		{"10.1.2.3:9000", "", "http://10.1.2.3:9000/health"},
		{"[::1]:8081", "ready", "http://[::1]:8081/ready"},
		{"[fe80::1%eth0]:8081", "", "http://[fe80::1%25eth0]:8081/health"},
		{"localhost:8081", "", "http://localhost:8081/health"},
		{"8081", "", ""},
		{"127.0.0.1", "", ""},
		{"::1:8081", "", ""},
		{"127.0.0.1:", "", ""},
		{"", "", ""},
		{":8081", "alive", ""},
		{":8081", "READY", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr+" "+tt.which, func(t *testing.T) {
			got, err := checkURL(tt.addr, tt.which)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("checkURL(%q, %q) = %q, want an error", tt.addr, tt.which, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("checkURL(%q, %q) = %q, %v, want %q", tt.addr, tt.which, got, err, tt.want)
			}
		})
	}
}

func TestCheckNone(t *testing.T) {
	for _, which := range []string{"", "live", "ready"} {
		err := Check("none", which, 2*time.Second)
		if err == nil || err.Error() != "health server disabled (HEALTH_LISTEN=none)" {
			t.Errorf("Check(none, %q) = %v", which, err)
		}
	}
}

// Check against a running server: nil on 200, an error naming the status (and why) otherwise.
func TestCheckAgainstServer(t *testing.T) {
	app := appServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		}
	})
	running := Status{State: "running", Live: true, Ready: true, Workers: []Worker{{PID: 7, State: "up", Started: time.Now()}}}
	tests := []struct {
		name     string
		status   *Status // nil: the zero Board
		readyURL string
		which    string
		wantErr  []string // substrings; nil means success
	}{
		{"zero live", nil, "", "", nil},
		{"zero ready", nil, "", "ready", []string{"503 Service Unavailable", "/ready", "state starting"}},
		{"running live", &running, "", "live", nil},
		{"running ready", &running, "", "ready", nil},
		{"crash loop live", &Status{State: "running"}, "", "live", []string{"503", "/health"}},
		{"draining live", &Status{State: "draining", Live: true}, "", "live", nil},
		{"draining ready", &Status{State: "draining", Live: true}, "", "ready", []string{"503", "state draining"}},
		{"ready url passes", &running, app.URL + "/ok", "ready", nil},
		{"ready url fails", &running, app.URL + "/starting", "ready", []string{"503", "READY_URL", "/starting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := new(Board)
			if tt.status != nil {
				b.Set(*tt.status)
			}
			s := startServer(t, b, tt.readyURL)
			err := Check(s.Addr().String(), tt.which, 5*time.Second)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check = nil, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Check error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// The checked port is listened on unspecified (":0"): Check reaches it through loopback.
func TestCheckUnspecifiedHost(t *testing.T) {
	s, err := Listen(Options{Addr: ":0", Logger: quietLogger()}, new(Board))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { s.Close() })
	_, port, err := net.SplitHostPort(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{":" + port, "0.0.0.0:" + port} {
		if err := Check(addr, "live", 5*time.Second); err != nil {
			t.Errorf("Check(%s) = %v", addr, err)
		}
	}
}

func TestCheckConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	const timeout = 5 * time.Second
	begin := time.Now()
	err = Check(addr, "live", timeout)
	if err == nil {
		t.Fatalf("Check(%s) on a closed port succeeded", addr)
	}
	if took := time.Since(begin); took >= timeout {
		t.Errorf("refused connection took the whole timeout (%v)", took)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say the connection was refused", err)
	}
}

// A server that accepts but never answers: Check gives up within its timeout and says so.
func TestCheckTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accept and hold connections without a word, until the listener closes
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	err = Check(ln.Addr().String(), "ready", 200*time.Millisecond)
	if err == nil {
		t.Fatal("Check against a silent server succeeded")
	}
	if !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("error %q does not say it timed out", err)
	}
}

// rawApp is an application that answers every connection with raw, after reading its request head, and then
// closes the connection, or holds it open until the test ends when hold is set. It returns its base URL.
func rawApp(t *testing.T, raw string, hold bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		close(done)
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				if _, err := io.WriteString(c, raw); err != nil || !hold {
					return
				}
				<-done
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// The probe against applications that answer in ways net/http's server would not: what counts is the status, and
// the probe never waits for a connection the application holds open when it knows where the body ends.
func TestReadyProbeRaw(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		hold    bool
		wantErr string // "" means ready
	}{
		{"length, held open", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, ""},
		{"no length, closed", "HTTP/1.0 200 OK\r\n\r\nfine, thanks", false, ""},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\n", true, ""},
		{"bare lf", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", true, ""},
		{"early hints first", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, ""},
		{"large body", "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("x", 1<<20), false, ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false, ""},
		{"503", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", true, "503 Service Unavailable"},
		{"301", "HTTP/1.1 301 Moved Permanently\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n", true, "301 Moved Permanently"},
		{"not http", "SSH-2.0-OpenSSH_9.6\r\n", false, "malformed HTTP response"},
		{"bad code", "HTTP/1.1 2000 OK\r\n\r\n", false, "malformed HTTP status code"},
		{"closed at once", "", false, "EOF"},
		{"cut in the head", "HTTP/1.1 200 OK\r\nContent-Le", false, "unexpected EOF"},
		{"no end of head", "HTTP/1.1 200 OK\r\n", false, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := rawApp(t, tt.raw, tt.hold)
			begin := time.Now()
			err := readyProbe(base + "/healthz")(context.Background())
			if took := time.Since(begin); took >= probeTimeout/2 {
				t.Errorf("probe took %v", took)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("probe = %v, want ready", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), base+"/healthz") {
				t.Fatalf("probe = %v, want an error naming the URL and %q", err, tt.wantErr)
			}
		})
	}
}

// What the probe sends: one GET of the path and query, Host, User-Agent pinit, Connection: close, the URL's
// credentials as Basic auth, no body.
func TestReadyProbeRequest(t *testing.T) {
	type seen struct {
		method, uri, host, agent string
		close                    bool
		user, pass               string
		length                   int64
	}
	got := make(chan seen, 1)
	app := appServer(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		got <- seen{r.Method, r.RequestURI, r.Host, r.UserAgent(), r.Close, user, pass, r.ContentLength}
	})
	u, err := url.Parse(app.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("pinit", "s3cret")
	u.Path, u.RawQuery = "/healthz", "deep=1"
	if err := readyProbe(u.String())(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := seen{"GET", "/healthz?deep=1", u.Host, "pinit", true, "pinit", "s3cret", 0}
	if s := <-got; s != want {
		t.Errorf("the application saw %+v, want %+v", s, want)
	}
}

func TestReadyProbeBadURL(t *testing.T) {
	for _, raw := range []string{"https://127.0.0.1/", "http:///nohost", "://", "http://[::1"} {
		err := readyProbe(raw)(context.Background())
		if err == nil || !strings.HasPrefix(err.Error(), "READY_URL: ") {
			t.Errorf("probe(%q) = %v, want a READY_URL error", raw, err)
		}
	}
}

// A cancelled context ends a probe in flight at once.
func TestReadyProbeCancel(t *testing.T) {
	base := rawApp(t, "", true) // reads the request, never answers
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	begin := time.Now()
	err := readyProbe(base)(ctx)
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("probe = %v, want it cancelled", err)
	}
	if took := time.Since(begin); took >= probeTimeout {
		t.Errorf("cancelled probe took %v", took)
	}
}

// Check's errors, word for word as `pinit --check` prints them after "pinit: check ready: ".
func TestCheckErrorText(t *testing.T) {
	s := startServer(t, new(Board), "")
	addr := s.Addr().String()
	want := "check http://" + addr + "/ready: 503 Service Unavailable (state starting)"
	if err := Check(addr, "ready", 5*time.Second); err == nil || err.Error() != want {
		t.Errorf("Check = %v, want %q", err, want)
	}

	closing := strings.TrimPrefix(rawApp(t, "", false), "http://")
	want = `check: Get "http://` + closing + `/health": EOF`
	if err := Check(closing, "live", 5*time.Second); err == nil || err.Error() != want {
		t.Errorf("Check against a server that hangs up = %v, want %q", err, want)
	}
}

// Check follows no redirect and asks no proxy, whatever the environment says.
func TestCheckNoRedirectNoProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	t.Setenv("NO_PROXY", "")
	moved := strings.TrimPrefix(rawApp(t, "HTTP/1.1 301 Moved Permanently\r\nLocation: /ready\r\nContent-Length: 0\r\n\r\n", false), "http://")
	if err := Check(moved, "live", 5*time.Second); err == nil || !strings.Contains(err.Error(), "301 Moved Permanently") {
		t.Errorf("Check against a redirect = %v, want the 301", err)
	}
	s := startServer(t, new(Board), "")
	if err := Check(s.Addr().String(), "live", 5*time.Second); err != nil {
		t.Errorf("Check with HTTP_PROXY set = %v", err)
	}
}
