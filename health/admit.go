package health

// Admission: which connections the server holds, and which one gives way when
// it is full (see limits.maxConns in server.go).

import (
	"context"
	"net"
	"time"
)

// connPhase is where a connection is in its life.
type connPhase int

const (
	phaseHead   connPhase = iota // its request head is still coming
	phaseProbe                   // a /ready waiting for the READY_URL verdict
	phaseAnswer                  // its answer is being written
	phaseLinger                  // answered: it waits only for the client to close
)

// connState is what the server knows of one open connection.
type connState struct {
	accepted time.Time
	phase    connPhase
	evicted  bool
	cancel   context.CancelFunc // ends the connection's wait for READY_URL when it is evicted
}

// evictOrder ranks a connection for eviction when the server is full, lowest first, or says -1 when it may not
// be evicted. First one that has had its answer (closing it costs the client nothing: the answer is on its way),
// then one still sending its head after headGrace (a slow client: an honest one sends its head at once), then a
// /ready waiting for READY_URL (a slow answer). One just accepted, or whose answer is being written, is left alone:
// it will be done in a moment.
func (st *connState) evictOrder(now time.Time, headGrace time.Duration) int {
	switch {
	case st.evicted:
		return -1
	case st.phase == phaseLinger:
		return 0
	case st.phase == phaseHead && now.Sub(st.accepted) >= headGrace:
		return 1
	case st.phase == phaseProbe:
		return 2
	}
	return -1
}

// waitRoom returns once a new connection may be accepted: fewer than maxConns are open, or one of them may be
// evicted (see evictOrder). Meanwhile new connections wait in the kernel's accept queue in the order they came, a
// health check among them: clients that hold connections without using them (slow heads, answers never read,
// /ready requests held up by READY_URL) are evicted, and clients that are only too many at once are served in
// turn. A warning says so once per flood. It returns false once the server is closing.
func (s *Server) waitRoom(wake *time.Timer) bool {
	for {
		s.mu.Lock()
		closed := s.closed
		room := len(s.conns)-s.evicting < s.lim.maxConns
		if !room {
			victim, _ := s.victim(time.Now())
			room = victim != nil
			s.warnFlood()
		}
		s.mu.Unlock()
		switch {
		case closed:
			return false
		case room:
			return true
		}
		// A connection that ends or becomes evictable says so on changed; a slow head becomes evictable
		// by age alone.
		wake.Reset(s.lim.headGrace / 4)
		select {
		case <-s.changed:
		case <-wake.C:
		}
	}
}

// victim is the connection to evict to make room, or nil when none may be. Called with s.mu held.
func (s *Server) victim(now time.Time) (net.Conn, *connState) {
	var victim net.Conn
	var vs *connState
	order := 0
	for vc, st := range s.conns {
		o := st.evictOrder(now, s.lim.headGrace)
		if o >= 0 && (vs == nil || o < order || o == order && st.accepted.Before(vs.accepted)) {
			victim, vs, order = vc, st, o
		}
	}
	return victim, vs
}

// warnFlood logs, once per flood, that the server is full. Called with s.mu held.
func (s *Server) warnFlood() {
	if !s.flooded {
		s.flooded = true
		s.log.Warn("health server: too many connections: evicting idle and slow ones, new ones wait their turn", "limit", s.lim.maxConns)
	}
}

// changedState wakes waitRoom: a connection ended or may be evicted now. Called with s.mu held.
func (s *Server) changedState() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// admit records c as open and returns the context its request is served in, which ends when c is evicted or the
// server closes. When the server is full it evicts a connection to make room (see evictOrder); should the one
// waitRoom saw have finished or moved on meanwhile, c is let in all the same, so at most maxConns+1 are open. It
// refuses c (ok false) once Close has begun.
func (s *Server) admit(c net.Conn) (ctx context.Context, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	if len(s.conns)-s.evicting >= s.lim.maxConns {
		if victim, vs := s.victim(time.Now()); victim != nil {
			vs.evicted = true
			s.evicting++
			vs.cancel()
			victim.Close() // its goroutine sees the error, ends and calls drop
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.conns[c] = &connState{accepted: time.Now(), phase: phaseHead, cancel: cancel}
	s.served++
	s.peak = max(s.peak, len(s.conns)-s.evicting)
	if s.release != nil {
		s.release.Stop() // not idle any more; armed again when it is
	}
	return ctx, true
}

// drop forgets c once its goroutine ends.
func (s *Server) drop(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.conns[c]; st != nil {
		if st.evicted {
			s.evicting--
		}
		st.cancel()
	}
	delete(s.conns, c)
	s.changedState()
	if len(s.conns) == 0 {
		s.idle()
	}
}

// idle runs when the last open connection is gone. A flood of connections (or a great many of them over time)
// leaves the Go runtime holding the memory it took: goroutine stacks, buffers, a heap grown to fit them. The
// runtime gives free memory back to the kernel only slowly (minutes), and pinit is meant to stay small in every
// container. So once the server has stayed idle for releaseAfter after such a time, it runs debug.FreeOSMemory:
// one garbage collection and the free memory returned at once, about a millisecond for pinit's small heap. A new
// connection before then puts it off until the server is idle again. Called with s.mu held.
func (s *Server) idle() {
	if s.peak < s.lim.floodConns && s.served < s.lim.releaseServed || s.closed {
		return
	}
	if s.release == nil {
		s.release = time.AfterFunc(s.lim.releaseAfter, s.releaseMemory)
		return
	}
	s.release.Reset(s.lim.releaseAfter)
}

// releaseMemory gives the memory back to the kernel, unless a connection came meanwhile.
func (s *Server) releaseMemory() {
	s.mu.Lock()
	if len(s.conns) > 0 || s.closed {
		s.mu.Unlock()
		return
	}
	flood := s.flooded
	s.peak, s.served, s.flooded = 0, 0, false
	s.mu.Unlock()
	s.free()
	if flood {
		s.log.Info("health server: flood over, memory released")
	}
}

// setPhase records where c is in its life, for admit.
func (s *Server) setPhase(c net.Conn, ph connPhase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.conns[c]; st != nil {
		st.phase = ph
		if ph == phaseLinger || ph == phaseProbe {
			s.changedState() // evictable now
		}
	}
}
