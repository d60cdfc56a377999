package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// limits keep slow, malicious or too many clients from holding the server or its memory. Each connection runs on
// its own goroutine, so they bound what one connection costs, not how long others wait. They are fields, not
// constants, so that tests can shrink them.
type limits struct {
	maxConns     int           // connections open at once; beyond it one is evicted or new ones wait (see waitRoom)
	maxHead      int           // bytes of request line and headers
	headTimeout  time.Duration // to receive the whole head, from the moment the connection is accepted
	headGrace    time.Duration // a connection still sending its head after this is a slow one (see evictOrder)
	writeTimeout time.Duration // to write the answer
	linger       time.Duration // after the answer, for the client to close its end (see linger)
	grace        time.Duration // Close lets connections finish for this long, then closes them

	// Memory: once the server has been idle for releaseAfter after a flood (floodConns open at once) or after
	// releaseServed connections, it hands the memory they took back to the kernel (see idle).
	releaseAfter  time.Duration
	floodConns    int
	releaseServed int
}

var defaultLimits = limits{
	maxConns:      256,
	maxHead:       8 << 10,
	headTimeout:   2 * time.Second,
	headGrace:     250 * time.Millisecond,
	writeTimeout:  2 * time.Second,
	linger:        500 * time.Millisecond,
	grace:         500 * time.Millisecond,
	releaseAfter:  time.Second,
	floodConns:    64,
	releaseServed: 1000,
}

const (
	probeTimeout = time.Second // READY_URL must answer within this
	maxLinger    = 256 << 10   // bytes read and dropped after the answer before closing regardless
	connBuf      = 512         // bytes of each connection's buffer: the head of a request, then what linger drops
)

// Options configure the health server.
type Options struct {
	Addr     string // HEALTH_LISTEN, e.g. ":8081", "127.0.0.1:9000", "[::1]:8081"
	ReadyURL string // READY_URL, "" when unset; GET with 1 s timeout, 2xx means ready
	Logger   *slog.Logger
	Version  string                    // for pinit_build_info
	Usage    func([]int) map[int]Usage // what each worker's process tree uses, read at scrape time
}

// Server is the health server bound to its address.
type Server struct {
	ln  net.Listener
	h   *handler
	log *slog.Logger
	lim limits

	ctx    context.Context // ends when Close gives up waiting: READY_URL probes in flight stop
	cancel context.CancelFunc

	mu       sync.Mutex
	serving  bool
	closed   bool
	conns    map[net.Conn]*connState
	evicting int            // connections closed to make room whose goroutines have not ended yet
	changed  chan struct{}  // a connection ended or became evictable (see waitRoom)
	wg       sync.WaitGroup // the accept loop and every connection's goroutine

	// Since the memory was last given back (see idle).
	flooded bool        // the server was full: warned once
	peak    int         // the most connections open at once
	served  int         // connections accepted
	release *time.Timer // gives the memory back once the server has been idle for releaseAfter; nil: not armed
	free    func()      // debug.FreeOSMemory; counted in tests
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
	// No TCP keep-alive on the connections (net's default turns it on with four setsockopt calls per
	// connection): none lives longer than a few seconds.
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{Enable: false}, KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("health server: %w", err)
	}
	var probe func(context.Context) error
	if opts.ReadyURL != "" {
		probe = readyProbe(opts.ReadyURL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := newHandler(board, probe, time.Now)
	if h.probes != nil {
		h.probes.base = ctx // Close ends the probe in flight
	}
	h.version, h.usage = opts.Version, opts.Usage
	return &Server{
		ln:      ln,
		h:       h,
		log:     log.With("component", "health"),
		lim:     defaultLimits,
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[net.Conn]*connState),
		changed: make(chan struct{}, 1),
		free:    debug.FreeOSMemory,
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
	s.wg.Go(s.accept)
}

// accept runs until the listener is closed. Accept errors other than that (EMFILE: out of file descriptors) are
// retried after a pause that doubles from 5 ms to 1 s, as net/http does, rather than in a hot loop. It accepts a
// connection only when there is room for it (see waitRoom).
func (s *Server) accept() {
	var pause time.Duration
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		if !s.waitRoom(wake) {
			return
		}
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.log.Debug("health server: accept failed", "err", err, "retry_in", pause)
			select {
			case <-time.After(pause):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		pause = 0
		ctx, ok := s.admit(c)
		if !ok {
			c.Close()
			return
		}
		s.wg.Go(func() {
			defer func() {
				s.drop(c)
				c.Close()
			}()
			s.serveConn(ctx, c)
		})
	}
}

// serveConn answers the one request of c in ctx. A connection that closes, fails or times out before a whole head
// has arrived gets no answer. One buffer of connBuf bytes serves to read the head (it grows for a larger one) and
// then what linger drops.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.lim.headTimeout))
	req := request{proto: "HTTP/1.1"}
	var rep reply
	buf := make([]byte, 0, connBuf)
	head, err := readHead(c, buf, s.lim.maxHead)
	switch {
	case errors.Is(err, errHeadTooLarge):
		rep = errorReply(431)
	case err != nil:
		s.log.Debug("health server: no request", "remote", c.RemoteAddr().String(), "err", err)
		return
	default:
		var code int
		if req, code = parseHead(head); code != 0 {
			rep = errorReply(code)
		} else {
			if s.h.waitsForProbe(req.path) {
				s.setPhase(c, phaseProbe)
			}
			rep = s.h.serve(ctx, req.method, req.path)
		}
	}
	if ctx.Err() != nil {
		return // evicted while waiting for READY_URL, or the server is closing
	}
	s.setPhase(c, phaseAnswer)
	_ = c.SetWriteDeadline(time.Now().Add(s.lim.writeTimeout))
	if err := send(c, rep.appendTo(nil, req.proto, req.method == "HEAD", s.h.now())); err != nil {
		return
	}
	s.setPhase(c, phaseLinger)
	linger(c, buf[:cap(buf)], s.lim.linger)
}

// linger ends the connection gracefully once the answer is written. Closing a socket that still holds unread bytes
// (a body the server ignored, a pipelined request) makes the kernel reset the connection and throw away the part of
// the answer it has not sent yet (a client slow to read has not taken it all). So linger half-closes (the client
// reads the answer, then EOF), and reads into buf and drops what the client still sends until it closes its end,
// for at most d or maxLinger bytes.
func linger(c net.Conn, buf []byte, d time.Duration) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() != nil {
			return
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	for n := 0; n < maxLinger; {
		m, err := c.Read(buf)
		n += m
		if err != nil {
			return
		}
	}
}

// Close stops the server: it stops accepting at once, lets the connections being served finish for a short while,
// then closes them and ends the READY_URL probes in flight. It returns once every goroutine of the server has
// ended. Calls after the first return nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.changedState() // waitRoom sees it
	s.mu.Unlock()

	err := s.ln.Close()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.lim.grace):
		s.log.Debug("health server: grace passed, closing connections")
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	s.h.probes.wait()
	s.mu.Lock()
	if s.release != nil {
		s.release.Stop()
	}
	s.mu.Unlock()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("health server: close: %w", err)
	}
	return nil
}
