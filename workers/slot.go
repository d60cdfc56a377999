//go:build linux

package workers

import (
	"os"
	"time"

	"github.com/pinit/pinit/health"
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
	recycles  health.Recycles
	recycle   string // why its worker is being replaced ("memory", "lifetime"); "": it is not
	fails     int    // workers in a row that died before they were up
	backoff   backoff
	restartAt time.Time // when the pending restart may happen; zero: none pending
	removing  bool      // scaled down: its workers stop, nothing restarts
	removeAt  time.Time // when it was scaled down

	// The accept queue, sampled (stall.go).
	queue     int       // connections waiting at the last sample
	busySince time.Time // start of the run of samples in which the queue held connections and did not shrink
	suspect   bool      // steered away from while pinit sees whether its worker takes its queue
	stalled   bool      // suspect for stallAfter: its worker does not take its queue
}

// worker is one running process.
type worker struct {
	pid       int
	slot      *slot
	gen       int // the reload generation it was started in
	started   time.Time
	up        bool
	spoke     bool      // sent sd_notify at least once: up only on READY=1
	stopAt    time.Time // when it was told to stop; zero while serving
	killAt    time.Time // when it is SIGKILLed if still running; zero: no such deadline
	killed    bool      // SIGKILL sent
	pinged    time.Time // its last sd_notify WATCHDOG=1; zero: never sent one
	recycleAt time.Time // when it has lived MAX_WORKER_LIFETIME (and its jitter); zero: never

	// Its process tree's CPU time, as last read (recycle.go measured).
	cpu        float64
	cpuMovedAt time.Time // when the reading last changed (or came first)
	cpuReadAt  time.Time // when it was last read; zero: never
	abortAt    time.Time // when it was sent SIGABRT for a timeout; zero: not timed out

	held []os.Signal // forwarded signals it gets once it is up (see forward)
}

// crashLooping reports whether the slot's workers keep dying on start.
func (s *slot) crashLooping() bool { return s.fails >= crashLoopAfter }

// empty reports whether no worker of the slot is running.
func (s *slot) empty() bool { return s.cur == nil && s.next == nil }

// Ranks of a slot for new connections, best first: they go to the slots
// of the best rank any slot has.
const (
	rankServing  = iota // up, taking its queue, staying
	rankSuspect         // up, but its queue is suspect or stalled
	rankStarting        // its worker runs but is not up yet
	rankWaiting         // no worker (or a crash loop): its queue waits for one
	rankNone            // no socket, or being removed: never
)

// rank says how fit the slot is for new connections now.
func (s *slot) rank() int {
	w := s.cur
	switch {
	case s.removing || s.fd < 0:
		return rankNone
	case w == nil || !w.stopAt.IsZero() || !w.abortAt.IsZero() || s.crashLooping():
		return rankWaiting
	case !w.up:
		return rankStarting
	case s.suspect || s.stalled:
		return rankSuspect
	}
	return rankServing
}
