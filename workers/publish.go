//go:build linux

package workers

import "github.com/pinit/pinit/health"

// publish hands the health server a snapshot. Readiness and liveness are
// decided here, by the supervisor; the server only renders them.
func (p *Pool) publish() {
	st := health.Status{State: p.phase, Ready: !p.stopping() && p.allUp(), Steering: string(p.steering),
		Desired: p.active(), Reloads: p.reloads, DrainStarted: p.drainStarted, DrainEnded: p.drainEnded}
	for _, s := range p.slots { // in slot order: slots are only ever appended
		if s.removing {
			continue
		}
		if !s.crashLooping() {
			st.Live = true
		}
		st.Workers = append(st.Workers, p.workerStatus(s))
	}
	p.cfg.Board.Set(st)
}

// workerStatus is how /health shows slot s.
func (p *Pool) workerStatus(s *slot) health.Worker {
	hw := health.Worker{Slot: s.id, Restarts: s.restarts, Queue: s.queue, Recycles: s.recycles}
	w := s.cur
	switch {
	case w == nil && p.stopping():
		hw.State = health.WorkerExited
		return hw
	case w == nil:
		hw.State = health.WorkerBackoff
		return hw
	}
	hw.PID, hw.Started = w.pid, w.started
	switch {
	case !w.stopAt.IsZero() || !w.abortAt.IsZero():
		hw.State = health.WorkerStopping
	case w.up && s.stalled:
		hw.State = health.WorkerStalled
	case w.up:
		hw.State = health.WorkerUp
	default:
		hw.State = health.WorkerStarting
	}
	return hw
}
