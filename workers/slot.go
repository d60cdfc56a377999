//go:build linux

package workers

import (
	"time"

	"golang.org/x/sys/unix"
)

// crashLoopAfter is how many workers in a row must die before they are up
// for a slot to count as crash-looping.
const crashLoopAfter = 3

// upAfter is how long a worker that never speaks sd_notify must run to count as up.
const upAfter = time.Second

// slot is one place in the pool: a listening socket that lives as long as the
// slot does, and the worker serving it. While a reload replaces the worker,
// next is the new one starting on the same socket; cur serves until next is up.
type slot struct {
	id        int
	fd        int // listening socket, -1 when LISTEN=none
	cur       *worker
	next      *worker
	restarts  int
	fails     int // workers in a row that died before they were up
	backoff   backoff
	restartAt time.Time // when the pending restart may happen; zero: none pending
	removing  bool      // scaled down: its workers stop, nothing restarts
}

// worker is one running process.
type worker struct {
	pid     int
	slot    *slot
	gen     int // the reload generation it was started in
	started time.Time
	up      bool
	spoke   bool      // sent sd_notify at least once: up only on READY=1
	stopAt  time.Time // when it was told to stop; zero while serving
	killAt  time.Time // when it is SIGKILLed if still running; zero: no such deadline
	killed  bool      // SIGKILL sent
}

// crashLooping reports whether the slot's workers keep dying on start.
func (s *slot) crashLooping() bool { return s.fails >= crashLoopAfter }

// empty reports whether no worker of the slot is running.
func (s *slot) empty() bool { return s.cur == nil && s.next == nil }

// closeSocket closes pinit's copy of the slot's socket. Workers still holding
// theirs keep it listening until they close it.
func (s *slot) closeSocket() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}
