package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// limits keep slow, malicious or too many clients from holding the server or its memory. Each connection runs on
// its own goroutine, so they bound what one connection costs, not how long others wait. They are fields, not
// constants, so that tests can shrink them.
type limits struct {
	maxConns     int           // connections served at once; beyond it the oldest one still sending its head is dropped
	maxHead      int           // bytes of request line and headers
	headTimeout  time.Duration // to receive the whole head, from the moment the connection is accepted
	writeTimeout time.Duration // to write the answer
	linger       time.Duration // after the answer, for the client to close its end (see linger)
	grace        time.Duration // Close lets connections finish for this long, then closes them
}

var defaultLimits = limits{
	maxConns:     256,
	maxHead:      8 << 10,
	headTimeout:  2 * time.Second,
	writeTimeout: 2 * time.Second,
	linger:       500 * time.Millisecond,
	grace:        500 * time.Millisecond,
}

const (
	probeTimeout = time.Second // READY_URL must answer within this
	maxLinger    = 256 << 10   // bytes read and dropped after the answer before closing regardless
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
	wg       sync.WaitGroup // the accept loop and every connection's goroutine
}

// connState is what the server knows of one open connection.
type connState struct {
	accepted time.Time
	gotHead  bool // its request head has arrived: it is being answered
	evicted  bool
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
		probe = readyProbe(opts.ReadyURL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := newHandler(board, probe, time.Now)
	h.version, h.usage = opts.Version, opts.Usage
	return &Server{
		ln:     ln,
		h:      h,
		log:    log.With("component", "health"),
		lim:    defaultLimits,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]*connState),
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
// retried after a pause that doubles from 5 ms to 1 s, as net/http does, rather than in a hot loop. When maxConns
// connections are open, a new one takes the place of the oldest one still sending its request head: a flood of
// slow clients cannot lock a prompt health check out, since an honest request's head arrives at once. Only when
// every open connection is being answered is the new one closed. A warning says so once per flood.
func (s *Server) accept() {
	var pause time.Duration
	flooded := false
	for {
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
		ok, evicted, closing := s.admit(c)
		if closing {
			c.Close()
			return
		}
		if (!ok || evicted) && !flooded {
			flooded = true
			s.log.Warn("health server: too many connections, dropping the slowest", "limit", s.lim.maxConns)
		}
		if !ok {
			c.Close()
			continue
		}
		s.wg.Go(func() {
			defer func() {
				s.drop(c)
				c.Close()
			}()
			s.serveConn(c)
		})
	}
}

// admit records c as open. At the limit it closes the oldest connection still sending its head to make room
// (evicted), or refuses c when there is none (ok false). It refuses everything once Close has begun (closing).
func (s *Server) admit(c net.Conn) (ok, evicted, closing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, false, true
	}
	if len(s.conns)-s.evicting >= s.lim.maxConns {
		var victim net.Conn
		var oldest *connState
		for vc, st := range s.conns {
			if !st.gotHead && !st.evicted && (oldest == nil || st.accepted.Before(oldest.accepted)) {
				victim, oldest = vc, st
			}
		}
		if victim == nil {
			return false, false, false
		}
		oldest.evicted = true
		s.evicting++
		victim.Close() // its goroutine sees the error, ends and calls drop
		evicted = true
	}
	s.conns[c] = &connState{accepted: time.Now()}
	return true, evicted, false
}

// drop forgets c once its goroutine ends.
func (s *Server) drop(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.conns[c]; st != nil && st.evicted {
		s.evicting--
	}
	delete(s.conns, c)
}

// gotHead marks c as being answered: no longer a candidate for eviction.
func (s *Server) gotHead(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.conns[c]; st != nil {
		st.gotHead = true
	}
}

// serveConn answers the one request of c. A connection that closes, fails or times out before a whole head has
// arrived gets no answer.
func (s *Server) serveConn(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.lim.headTimeout))
	req := request{proto: "HTTP/1.1"}
	var rep reply
	head, err := readHead(c, s.lim.maxHead)
	s.gotHead(c)
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
			rep = s.h.serve(s.ctx, req.method, req.path)
		}
	}
	_ = c.SetWriteDeadline(time.Now().Add(s.lim.writeTimeout))
	if err := send(c, rep.appendTo(nil, req.proto, req.method == "HEAD", s.h.now())); err != nil {
		return
	}
	linger(c, s.lim.linger)
}

// linger ends the connection gracefully once the answer is written. Closing a socket that still holds unread bytes
// (a body the server ignored, a pipelined request) makes the kernel reset the connection and throw away the part of
// the answer it has not sent yet (a client slow to read has not taken it all). So linger half-closes (the client
// reads the answer, then EOF), and reads and drops what the client still sends until it closes its end, for at most
// d or maxLinger bytes.
func linger(c net.Conn, d time.Duration) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() != nil {
			return
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, _ = io.CopyN(io.Discard, c, maxLinger)
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
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("health server: close: %w", err)
	}
	return nil
}
