package health

import (
	"net"
	"net/http"
	"strings"
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
