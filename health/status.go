package health

import (
	"slices"
	"sync/atomic"
	"time"
)

// Worker is one supervised process as /health and /ready report it.
type Worker struct {
	Slot     int // 0-based slot; init mode: 0
	PID      int // 0 while the slot is empty
	State    WorkerState
	Restarts int       // how many times this slot's process was restarted
	Queue    int       // connections waiting in the slot's accept queue at the last sample
	Recycles Recycles  // workers of this slot replaced on purpose, by reason
	Started  time.Time // zero while no process runs; uptime is computed at request time
}

// Status is a snapshot the supervisor publishes whenever its state changes.
type Status struct {
	State Phase
	Live  bool // false when the pool is crash-looping → /health 503
	Ready bool // decided by the supervisor alone: every worker up, no drain; the server only renders it
	// Steering is how new connections reach the slots: "bpf" (pinit's
	// program, serving slots only), "kernel" (its own hash), "" (no socket).
	Steering string
	Workers  []Worker

	Desired      int       // how many workers the pool should have (WORKERS, changed by TTIN/TTOU)
	Reloads      int       // SIGHUP reloads begun
	DrainStarted time.Time // when the stop began; zero before
	DrainEnded   time.Time // when the last worker was gone; zero before
}

// Recycles counts, for one slot, the workers replaced on purpose while they
// still ran: why pinit_worker_recycles_total{reason} went up.
type Recycles struct {
	Memory   int // MAX_WORKER_MEMORY exceeded
	Lifetime int // MAX_WORKER_LIFETIME reached
	Timeout  int // killed for WORKER_TIMEOUT (a stalled slot or a silent watchdog)
	Reload   int // replaced by a SIGHUP reload
}

// Usage is what /proc says one worker and its descendants use.
type Usage struct {
	RSS int64   // resident memory, bytes
	CPU float64 // user and system CPU time, seconds, its reaped children's included
}

// Board holds the latest Status; the supervisor goroutine Sets, HTTP handlers Get. It is safe for concurrent
// use. The zero Board reports State "starting", Live true, Ready false.
type Board struct {
	cur atomic.Pointer[Status]
}

// Set publishes s. The Workers slice is copied, so the caller may reuse its own afterwards.
func (b *Board) Set(s Status) {
	s.Workers = slices.Clone(s.Workers)
	b.cur.Store(&s)
}

// Get returns the latest Status, with a Workers slice of its own.
func (b *Board) Get() Status {
	p := b.cur.Load()
	if p == nil {
		return Status{State: PhaseStarting, Live: true}
	}
	s := *p
	s.Workers = slices.Clone(s.Workers)
	return s
}
