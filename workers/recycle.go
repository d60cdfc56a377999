//go:build linux

package workers

import (
	"math/rand/v2"
	"time"

	"github.com/pinit/pinit/health"
)

// memoryEvery is how often the process trees' memory and CPU time are read,
// for MAX_WORKER_MEMORY and for WORKER_TIMEOUT (stall.go).
const memoryEvery = time.Second

// watchMemory reads, off the supervisor's goroutine, what the workers the
// pool last published use, and sends it to the loop every memoryEvery. A
// reading the loop has not taken yet is replaced, never queued.
func (p *Pool) watchMemory(out chan map[int]health.Usage, stop <-chan struct{}) {
	t := time.NewTicker(memoryEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var pids []int
		for _, w := range p.cfg.Board.Get().Workers {
			if w.PID > 0 {
				pids = append(pids, w.PID)
			}
		}
		u := p.usage(pids)
		if u == nil {
			u = map[int]health.Usage{}
		}
		select {
		case <-out: // drop the stale one
		default:
		}
		out <- u
	}
}

// measured marks for recycling every serving worker over MAX_WORKER_MEMORY.
// It also notes when each worker's CPU time last moved, for stall.go.
func (p *Pool) measured(usage map[int]health.Usage) {
	now := p.now()
	for pid, u := range usage {
		w, ok := p.procs[pid]
		if !ok {
			continue
		}
		if w.cpuReadAt.IsZero() || u.CPU != w.cpu {
			w.cpu, w.cpuMovedAt = u.CPU, now
		}
		w.cpuReadAt = now
		if p.cfg.MaxMemory <= 0 || u.RSS <= p.cfg.MaxMemory {
			continue
		}
		s := w.slot
		if s.cur != w || !w.up || !w.stopAt.IsZero() || s.recycle != "" || s.removing {
			continue
		}
		s.recycle = "memory"
		p.log.Warn("worker over MAX_WORKER_MEMORY: recycling", "slot", s.id, "pid", w.pid,
			"rss", u.RSS, "max", p.cfg.MaxMemory)
	}
}

// recycleStep replaces the workers marked for recycling (by memory, or by
// age: marked here) the way a reload does: the new worker starts on the
// slot's socket and the old one is told to stop only once it is up. One
// slot at a time, so that the pool never lacks more than one worker's
// capacity, and only while running: not while starting, reloading or draining.
func (p *Pool) recycleStep(now time.Time) {
	if p.phase != health.PhaseRunning {
		return
	}
	for _, s := range p.slots {
		w := s.cur
		if w != nil && s.recycle == "" && !s.removing && w.up && w.stopAt.IsZero() &&
			!w.recycleAt.IsZero() && !now.Before(w.recycleAt) {
			s.recycle = "lifetime"
			p.log.Info("worker reached MAX_WORKER_LIFETIME: recycling", "slot", s.id, "pid", w.pid,
				"age", now.Sub(w.started).Round(time.Millisecond).String())
		}
	}
	for _, s := range p.slots {
		if s.next == nil {
			continue
		}
		if !s.next.up {
			return // one at a time: wait for it
		}
		p.promote(s)
	}
	for _, s := range p.slots {
		if s.recycle != "" && !s.removing && s.cur != nil && s.next == nil && !now.Before(s.restartAt) {
			s.restartAt = time.Time{}
			s.next = p.startWorker(s, now)
			return
		}
	}
}

// promote makes the slot's new worker (up) its worker, tells the old one to
// stop, and counts why it was replaced.
func (p *Pool) promote(s *slot) {
	old := s.cur
	s.cur, s.next = s.next, nil
	switch s.recycle {
	case "memory":
		s.recycles.Memory++
	case "lifetime":
		s.recycles.Lifetime++
	default:
		s.recycles.Reload++
	}
	s.recycle = ""
	if old != nil {
		p.retire(old)
	}
}

// randomJitter is a random duration from 0 to max.
func randomJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max + 1)
}
