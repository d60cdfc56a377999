package health

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

func TestReadHead(t *testing.T) {
	const limit = 100
	exactly100 := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", limit-len("GET / HTTP/1.1\r\nX: \r\n\r\n")) + "\r\n\r\n"
	tests := []struct {
		name, in string
		want     string // the head readHead returns; "" means an error
		wantErr  error  // nil means any error
	}{
		{name: "crlf", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", want: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "bare lf", in: "GET / HTTP/1.1\nHost: x\n\n", want: "GET / HTTP/1.1\nHost: x\n\n"},
		{name: "mixed", in: "GET / HTTP/1.1\r\nHost: x\n\r\n", want: "GET / HTTP/1.1\r\nHost: x\n\r\n"},
		{name: "no headers", in: "GET / HTTP/1.0\r\n\r\n", want: "GET / HTTP/1.0\r\n\r\n"},
		{name: "body after the head", in: "GET / HTTP/1.1\r\n\r\nhello", want: "GET / HTTP/1.1\r\n\r\n"},
		{name: "empty lines first", in: "\r\n\r\n\nGET / HTTP/1.1\r\n\r\n", want: "GET / HTTP/1.1\r\n\r\n"},
		{name: "eof mid-head", in: "GET / HTTP/1.1\r\nHost: x\r\n", wantErr: io.EOF},
		{name: "eof at once", in: "", wantErr: io.EOF},
		{name: "only empty lines", in: "\r\n\r\n", wantErr: io.EOF},
		{name: "too large", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 200) + "\r\n\r\n", wantErr: errHeadTooLarge},
		{name: "too large, no end", in: strings.Repeat("a", 500), wantErr: errHeadTooLarge},
		{name: "exactly the limit", in: exactly100, want: exactly100},
	}
	for _, tt := range tests {
		// Whole, and one byte per read: the empty line is found across reads too.
		readers := map[string]func() io.Reader{
			"whole":    func() io.Reader { return strings.NewReader(tt.in) },
			"bytewise": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.in)) },
		}
		for rname, r := range readers {
			t.Run(tt.name+" "+rname, func(t *testing.T) {
				got, err := readHead(r(), nil, limit)
				if tt.want != "" {
					if err != nil || string(got) != tt.want {
						t.Fatalf("readHead(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
					}
					return
				}
				if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("readHead(%q) = %q, %v, want error %v", tt.in, got, err, tt.wantErr)
				}
			})
		}
	}
}

func TestParseHead(t *testing.T) {
	tests := []struct {
		head string
		code int // 0: a request to answer
		want request
	}{
		{"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.1"}},
		{"HEAD /ready HTTP/1.1\r\nhost: x\r\n\r\n", 0, request{"HEAD", "/ready", "HTTP/1.1"}},
		{"GET /health HTTP/1.0\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.0"}},
		{"GET /health HTTP/1.0\r\nHost: x\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.0"}},
		{"GET /health HTTP/1.2\r\nHost: x\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health?x=1&y HTTP/1.1\r\nHost: x\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.1"}},
		{"GET http://pinit:8081/health?x=1 HTTP/1.1\r\nHost: pinit\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /%68ealth HTTP/1.1\r\nHost: x\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.1"}},
		{"GET //health HTTP/1.1\r\nHost: x\r\n\r\n", 0, request{"GET", "//health", "HTTP/1.1"}},
		{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0, request{"OPTIONS", "*", "HTTP/1.1"}},
		{"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 0, request{"BREW", "/health", "HTTP/1.1"}},
		{"get /health HTTP/1.1\nHost: x\n\n", 0, request{"get", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\n", 0, request{"GET", "/health", "HTTP/1.1"}},

		// Malformed request lines.
		{"GET /health\r\nHost: x\r\n\r\n", 400, request{proto: "HTTP/1.1"}},
		{"GET\r\n\r\n", 400, request{proto: "HTTP/1.1"}},
		{"GET  /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /health  HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /health HTTP/1.1 \r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"G(T /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{proto: "HTTP/1.1"}},
		{" GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{proto: "HTTP/1.1"}},
		{"GET health HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /he\x01alth HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /health\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /health HTTP/1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /health http/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /health HTTP/1.10\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"GET /health FTP/1.1\r\nHost: x\r\n\r\n", 400, request{"GET", "", "HTTP/1.1"}},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, request{proto: "HTTP/1.1"}}, // a TLS hello
		{"HEAD /health HTTP/1.1\r\n\r\n", 400, request{"HEAD", "/health", "HTTP/1.1"}},            // no Host

		// Versions other than 1.x.
		{"PRI * HTTP/2.0\r\n\r\n", 505, request{"PRI", "", "HTTP/1.1"}},
		{"GET /health HTTP/0.9\r\n\r\n", 505, request{"GET", "", "HTTP/1.1"}},
		{"GET /health HTTP/3.0\r\nHost: x\r\n\r\n", 505, request{"GET", "", "HTTP/1.1"}},

		// Malformed headers, and Host rules.
		{"GET /health HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nHost: x\r\nX-Space : y\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nHost: x\r\nX-Cr: a\rb\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nX-Host: x\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.1"}},
		{"GET /health HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", 400, request{"GET", "/health", "HTTP/1.0"}},
	}
	for _, tt := range tests {
		t.Run(strings.ToValidUTF8(tt.head, "?"), func(t *testing.T) {
			got, code := parseHead([]byte(tt.head))
			if code != tt.code || got != tt.want {
				t.Fatalf("parseHead(%q) = %+v, %d, want %+v, %d", tt.head, got, code, tt.want, tt.code)
			}
		})
	}
}

// exchange sends raw to the server at addr and returns everything it answers until it closes the connection.
// It fails the test if the server keeps the connection open for 5 s.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %q: read %q, then %v", raw, got, err)
	}
	return string(got)
}

// Requests as they arrive on the wire, answered by the server: the answer's status line, and whether it has a body.
func TestServerRawRequests(t *testing.T) {
	s := startServer(t, boardWith(Status{State: "running", Live: true, Ready: true}), "")
	addr := s.Addr().String()
	tests := []struct {
		name, raw  string
		statusLine string
		noBody     bool
	}{
		{"http/1.1", "GET /health HTTP/1.1\r\nHost: pinit\r\n\r\n", "HTTP/1.1 200 OK", false},
		{"http/1.0", "GET /health HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK", false},
		{"http/1.0 head", "HEAD /ready HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK", true},
		{"bare lf", "GET /ready HTTP/1.1\nHost: pinit\n\n", "HTTP/1.1 200 OK", false},
		{"empty line first", "\r\nGET /ready HTTP/1.1\r\nHost: pinit\r\n\r\n", "HTTP/1.1 200 OK", false},
		{"query", "GET /health?verbose=1 HTTP/1.1\r\nHost: pinit\r\n\r\n", "HTTP/1.1 200 OK", false},
		{"absolute-form", "GET http://pinit:8081/ready?x=1 HTTP/1.1\r\nHost: pinit:8081\r\n\r\n", "HTTP/1.1 200 OK", false},
		{"absolute-form elsewhere", "GET http://pinit:8081/other HTTP/1.1\r\nHost: pinit:8081\r\n\r\n", "HTTP/1.1 404 Not Found", false},
		{"body ignored", "GET /health HTTP/1.1\r\nHost: pinit\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 200 OK", false},
		{"chunked body ignored", "GET /health HTTP/1.1\r\nHost: pinit\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1 200 OK", false},
		{"pipelined request ignored", "HEAD /health HTTP/1.1\r\nHost: pinit\r\n\r\nGET /health HTTP/1.1\r\nHost: pinit\r\n\r\n", "HTTP/1.1 200 OK", true},
		{"post", "POST /health HTTP/1.1\r\nHost: pinit\r\nContent-Length: 2\r\n\r\n{}", "HTTP/1.1 405 Method Not Allowed", false},
		{"malformed", "GET /health\r\n\r\n", "HTTP/1.1 400 Bad Request", false},
		{"garbage", "\x00\x01\x02 hello\r\n\r\n", "HTTP/1.1 400 Bad Request", false},
		{"no host", "GET /health HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", false},
		{"no host, head", "HEAD /health HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", true},
		{"bad header", "GET /health HTTP/1.1\r\nHost: pinit\r\nBad Header: x\r\n\r\n", "HTTP/1.1 400 Bad Request", false},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exchange(t, addr, tt.raw)
			if !strings.HasPrefix(got, tt.statusLine+"\r\n") {
				t.Fatalf("answer to %q = %q, want it to start with %q", tt.raw, got, tt.statusLine)
			}
			if strings.Count(got, "HTTP/1.") != 1 {
				t.Errorf("answer to %q holds more than one response: %q", tt.raw, got)
			}
			head, body, ok := strings.Cut(got, "\r\n\r\n")
			if !ok || !strings.Contains(head, "\r\nConnection: close\r\n") || !strings.Contains(head, "\r\nContent-Length: ") {
				t.Errorf("answer head %q lacks Connection: close or Content-Length", head)
			}
			if tt.noBody != (body == "") {
				t.Errorf("answer body = %q, want one: %v", body, !tt.noBody)
			}
		})
	}
}

// A head larger than the limit gets 431 and the connection is closed, whether or not it would have ended, and
// without waiting for the head timeout.
func TestServerHeadTooLarge(t *testing.T) {
	s := startServer(t, new(Board), "")
	addr := s.Addr().String()
	big := "GET /health HTTP/1.1\r\nHost: pinit\r\nX-Big: " + strings.Repeat("a", defaultLimits.maxHead) + "\r\n\r\n"
	if got := exchange(t, addr, big); !strings.HasPrefix(got, "HTTP/1.1 431 Request Header Fields Too Large\r\n") {
		t.Errorf("oversized head: answer %q, want 431", got)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: pinit\r\nX-Big: "+strings.Repeat("a", defaultLimits.maxHead)); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_ = c.SetReadDeadline(begin.Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 431 ") {
		t.Fatalf("endless head: answer %q, %v; want 431 and EOF", got, err)
	}
	if took := time.Since(begin); took >= defaultLimits.headTimeout {
		t.Errorf("431 took %v, the whole head timeout", took)
	}
}

// A client that sends a body with its GET and is slow to read the answer still gets all of it. Closing a socket
// with unread bytes (the body) would reset the connection and drop the part of the answer still queued to send,
// which a client with a small receive window has not taken yet: the server half-closes and drains instead.
func TestServerBodyIgnoredSlowReader(t *testing.T) {
	workers := make([]Worker, 300) // a body of some 20 KiB, far more than the client's window
	for i := range workers {
		workers[i] = Worker{Slot: i, PID: 1000 + i, State: "up", Started: time.Now()}
	}
	s := startServer(t, boardWith(Status{State: "running", Live: true, Ready: true, Workers: workers}), "")
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	body := strings.Repeat("x", 64<<10)
	if _, err := io.WriteString(c, "GET /ready HTTP/1.1\r\nHost: pinit\r\nContent-Length: 65536\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	// Read nothing until the server has answered and closed its end: that
	// close, with our body partly unread on its side, is what must not reset
	// the connection.
	// (The connection lingers open for up to half a second: polling sees it.)
	seen := false
	waitFor(t, "the server took the connection and is done with it", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		seen = seen || len(s.conns) > 0
		return seen && len(s.conns) == 0
	})
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || int64(len(got)) != resp.ContentLength {
		t.Fatalf("answer %d with %d of %d bytes, then %v; want 200 and the whole body", resp.StatusCode, len(got), resp.ContentLength, err)
	}
}

// With every connection slot held by a stalled client, a new connection takes the place of the oldest stalled
// one: /health is answered at once, however many slow clients keep coming, and the evicted ones are closed.
func TestServerConnectionFlood(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Logger: quietLogger()}, new(Board))
	if err != nil {
		t.Fatal(err)
	}
	const slots = 8
	s.lim.maxConns = slots
	s.lim.headTimeout = time.Minute // no help from the timeout: eviction alone must do it
	s.Serve()
	t.Cleanup(func() { s.Close() })
	addr := s.Addr().String()

	stall := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	open := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) - s.evicting
	}
	var first []net.Conn
	for range slots {
		first = append(first, stall())
		// One at a time, so that the order of acceptance is the order here.
		want := len(first)
		waitFor(t, fmt.Sprintf("%d connections open", want), func() bool { return open() == want })
	}
	// A flood of more slow clients, then an honest check: answered.
	for range 3 * slots {
		stall()
	}
	if err := Check(addr, "live", 5*time.Second); err != nil {
		t.Fatalf("/health during a flood of slow clients: %v", err)
	}
	// The first stalled clients were the oldest: dropped without a word.
	for i, c := range first {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 64))
		var ne net.Error
		if n > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("oldest stalled client %d: read %d bytes, %v; want it closed", i, n, err)
		}
	}
	if n := open(); n > slots {
		t.Errorf("%d connections open, limit %d", n, slots)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
