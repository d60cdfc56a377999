package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits that keep a slow or malicious client from holding the server. Every connection runs on its own
// goroutine (net/http), so these bound what one connection costs, not how long others wait.
const (
	readHeaderTimeout = 2 * time.Second
	readTimeout       = 5 * time.Second
	writeTimeout      = 5 * time.Second // above probeTimeout, so a slow READY_URL still gets its 503 written
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 8 << 10
	shutdownTimeout   = 500 * time.Millisecond
	probeTimeout      = time.Second
)

// Options configure the health server.
type Options struct {
	Addr     string // HEALTH_LISTEN, e.g. ":8081", "127.0.0.1:9000", "[::1]:8081"
	ReadyURL string // READY_URL, "" when unset; GET with 1 s timeout, 2xx means ready
	Logger   *slog.Logger
}

// report is the JSON body of /health and /ready.
type report struct {
	Status        string         `json:"status"` // "ok" or "unavailable"
	State         string         `json:"state"`
	Workers       []workerReport `json:"workers"`
	ReadyURLError string         `json:"ready_url_error,omitempty"`
}

type workerReport struct {
	Slot          int     `json:"slot"`
	PID           int     `json:"pid"`
	State         string  `json:"state"`
	Restarts      int     `json:"restarts"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// Handler serves /health and /ready from board. probe (nil when READY_URL is unset) is called on /ready only when
// board says Ready, with a context that expires after 1 s. now is injectable for tests; nil means time.Now.
func Handler(board *Board, probe func(context.Context) error, now func() time.Time) http.Handler {
	if board == nil {
		board = new(Board)
	}
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path != "/health" && r.URL.Path != "/ready" {
			reply(w, r, http.StatusNotFound, "text/plain; charset=utf-8", []byte("404 page not found\n"))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			reply(w, r, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("405 method not allowed\n"))
			return
		}

		st := board.Get()
		var ok bool
		var probeErr error
		if r.URL.Path == "/health" {
			ok = st.Live
		} else {
			// Ready is the supervisor's view; a drain or stop is never ready, whatever it says.
			ok = st.Ready && st.State != "draining" && st.State != "stopping"
			if ok && probe != nil {
				ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
				probeErr = probe(ctx)
				cancel()
				ok = probeErr == nil
			}
		}

		rep := report{Status: "ok", State: st.State, Workers: make([]workerReport, 0, len(st.Workers))}
		code := http.StatusOK
		if !ok {
			rep.Status, code = "unavailable", http.StatusServiceUnavailable
		}
		if probeErr != nil {
			rep.ReadyURLError = probeErr.Error()
		}
		t := now()
		for _, wk := range st.Workers {
			rep.Workers = append(rep.Workers, workerReport{
				Slot:          wk.Slot,
				PID:           wk.PID,
				State:         wk.State,
				Restarts:      wk.Restarts,
				UptimeSeconds: uptime(wk.Started, t),
			})
		}
		body, err := json.Marshal(rep)
		if err != nil { // cannot happen: the report holds only strings and numbers
			reply(w, r, http.StatusInternalServerError, "text/plain; charset=utf-8", []byte(err.Error()+"\n"))
			return
		}
		reply(w, r, code, "application/json", append(body, '\n'))
	})
}

// uptime is the time since started in seconds, rounded to milliseconds; 0 when nothing runs or the clock went back.
func uptime(started, now time.Time) float64 {
	if started.IsZero() || !now.After(started) {
		return 0
	}
	return math.Round(now.Sub(started).Seconds()*1000) / 1000
}

// reply writes status, headers and, unless the request is HEAD, body. HEAD gets the same Content-Length as GET.
func reply(w http.ResponseWriter, r *http.Request, code int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client went away; nothing to do
	}
}

// Server is the health server bound to its address.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger

	mu      sync.Mutex
	serving bool
	closed  bool
	done    chan struct{} // closed when the Serve goroutine returns
}

// Listen binds opts.Addr and prepares the server; nothing is served until Serve. The error names the address,
// e.g. "health server: listen tcp :8081: bind: address already in use".
func Listen(opts Options, board *Board) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Addr == "" || opts.Addr == "none" {
		return nil, fmt.Errorf("health server: no address to listen on (HEALTH_LISTEN=%q)", opts.Addr)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("health server: %w", err)
	}
	var probe func(context.Context) error
	if opts.ReadyURL != "" {
		probe = ProbeURL(opts.ReadyURL)
	}
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           Handler(board, probe, time.Now),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.With("component", "health").Handler(), slog.LevelDebug),
		},
		log:  log,
		done: make(chan struct{}),
	}, nil
}

// Addr is the address the server is bound to (with the real port when Addr asked for port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve starts serving in its own goroutine and returns at once. Calls after the first, or after Close, do nothing.
func (s *Server) Serve() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving || s.closed {
		return
	}
	s.serving = true
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("health server stopped", "addr", s.ln.Addr().String(), "err", err)
		}
	}()
}

// Close stops the server: it lets requests in flight finish for a short while, then closes every connection.
// It returns once the Serve goroutine has ended. Calls after the first return nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	serving := s.serving
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var err error
	if serr := s.srv.Shutdown(ctx); serr != nil {
		s.log.Debug("health server: shutdown deadline passed, closing connections", "err", serr)
		err = s.srv.Close()
	}
	// Shutdown closes only listeners Serve has seen; close ours in case Serve never ran.
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	if serving {
		<-s.done
	}
	if err != nil {
		return fmt.Errorf("health server: close: %w", err)
	}
	return nil
}
