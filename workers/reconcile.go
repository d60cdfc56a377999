//go:build linux

package workers

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
	pid1 "github.com/pinit/pinit/init"
)

// exited handles a reaped process: a worker, or an orphan to drop.
func (p *Pool) exited(e pid1.Exit) {
	w, ok := p.procs[e.PID]
	if !ok {
		p.log.Debug("reaped orphan", "pid", e.PID, pid1.StatusAttr(e.Status))
		return
	}
	delete(p.procs, e.PID)
	now := p.now()
	uptime := now.Sub(w.started)
	s := w.slot
	p.log.Info("worker exited", "slot", s.id, "pid", w.pid, pid1.StatusAttr(e.Status),
		"uptime", uptime.Round(time.Millisecond).String())
	switch {
	case w == s.cur && s.next != nil:
		// A reload's replacement was starting: it takes over the slot.
		s.cur, s.next = s.next, nil
		s.recycle = ""
		return
	case w == s.cur:
		s.cur = nil
		s.suspect, s.stalled, s.busySince = false, false, time.Time{} // its queue waits for the next one
		if !w.up {
			s.fails++ // the slot is empty because its worker died on start
		}
	case w == s.next:
		// A reload's replacement died: the old worker serves on; retry later.
		s.next = nil
	default:
		return // retired: it was told to stop
	}
	if p.stopping() || s.removing {
		return
	}
	d := s.backoff.delay(uptime, w.up)
	s.restartAt = now.Add(d)
	if w.abortAt.IsZero() { // a worker pinit killed for a timeout is counted there
		s.restarts++
	}
	p.log.Info("restart scheduled", "slot", s.id, "delay", d.String(), "restarts", s.restarts)
}

// notified handles an sd_notify message from a worker.
func (p *Pool) notified(m notifyMsg) {
	w, ok := p.procs[m.pid]
	if !ok {
		p.log.Debug("sd_notify from an unknown process", "pid", m.pid)
		return
	}
	w.spoke = true
	if m.watchdog {
		w.pinged = p.now()
	}
	if m.ready && !w.up {
		p.markUp(w, "READY=1")
	}
}

func (p *Pool) markUp(w *worker, why string) {
	w.up = true
	w.slot.fails = 0
	p.log.Debug("worker up", "slot", w.slot.id, "pid", w.pid, "by", why)
	p.deliverHeld(w)
}

// reconcile moves the pool towards what it should be at p.now(): workers
// started in empty slots, up timers, reload steps, drain steps, kills. It
// runs after every event and publishes the state for the health server.
func (p *Pool) reconcile() {
	now := p.now()
	for _, w := range p.procs {
		if !w.up && !w.spoke && !now.Before(w.started.Add(upAfter)) {
			p.markUp(w, "running 1s")
		}
		switch {
		case w.killed:
		case !w.abortAt.IsZero() && !now.Before(w.abortAt.Add(abortGrace)):
			// The SIGKILL that follows a timeout's SIGABRT: a drain that
			// began meanwhile does not put it off until the grace.
			p.send(-w.pid, unix.SIGKILL)
			w.killed = true
		case !w.killAt.IsZero() && !now.Before(w.killAt):
			p.log.Warn("worker did not stop within the grace: killing its process group", "slot", w.slot.id, "pid", w.pid)
			p.send(-w.pid, unix.SIGKILL)
			w.killed = true
		}
	}
	if p.stopping() {
		p.drainStep(now)
	} else {
		p.sample(now)
		p.timeouts(now)
		p.removeStep(now)
		p.steer() // away from what died or hung before anything is forked
		p.fillSlots(now)
		p.reloadStep(now)
		if p.phase == health.PhaseStarting && p.allUp() {
			p.phase = health.PhaseRunning
			p.log.Info("all workers up", "workers", p.active())
		}
		p.recycleStep(now)
	}
	if p.done() && p.drainEnded.IsZero() {
		p.drainEnded = now
	}
	p.dropRemoved()
	p.steer()
	p.publish()
}

// fillSlots starts a worker in every empty slot whose restart is due.
func (p *Pool) fillSlots(now time.Time) {
	for _, s := range p.slots {
		if s.removing || !s.empty() || now.Before(s.restartAt) {
			continue
		}
		s.restartAt = time.Time{}
		if w := p.startWorker(s, now); w != nil {
			s.cur = w
		}
	}
}

// reloadStep advances a rolling restart: one slot at a time, the new worker
// starts on the slot's socket and only once it is up is the old one told to stop.
func (p *Pool) reloadStep(now time.Time) {
	p.reloadAt = time.Time{}
	if p.phase != health.PhaseReloading {
		return
	}
	for _, s := range p.slots {
		if s.removing {
			continue
		}
		if s.next != nil {
			if !s.next.up {
				return // wait for it
			}
			p.promote(s)
		}
		if s.cur == nil {
			return // restarting after a death; the new one is of this generation
		}
		if s.cur.gen < p.gen {
			if now.Before(s.restartAt) {
				p.reloadAt = s.restartAt // its new worker died: retry after the backoff
				return
			}
			s.restartAt = time.Time{}
			s.next = p.startWorker(s, now)
			return
		}
		if !s.cur.up {
			return
		}
	}
	p.phase = health.PhaseRunning
	p.log.Info("reload finished", "generation", p.gen)
}

// drainStep sends the stop signal once the drain delay is over and kills
// what is left at the grace deadline.
func (p *Pool) drainStep(now time.Time) {
	if !p.stopSent && !now.Before(p.drainAt) {
		p.stopSent = true
		p.phase = health.PhaseStopping
		// New connections are refused from now on, not queued for nobody.
		p.closeSockets()
		for _, w := range p.procs {
			if w.stopAt.IsZero() {
				w.stopAt = now
				p.send(-w.pid, p.stopSig)
			}
		}
	}
	if now.Before(p.graceAt) {
		return
	}
	for _, w := range p.procs {
		if !w.killed {
			p.log.Warn("grace timeout: killing the worker's process group", "slot", w.slot.id, "pid", w.pid)
			p.send(-w.pid, unix.SIGKILL)
			w.killed = true
			p.killed = true
		}
	}
}

// retire tells a worker to stop, and to be killed if it has not within the grace.
func (p *Pool) retire(w *worker) {
	now := p.now()
	w.stopAt = now
	w.killAt = now.Add(p.cfg.Grace)
	p.log.Info("stopping worker", "slot", w.slot.id, "pid", w.pid, "signal", pid1.SignalName(p.cfg.StopSignal))
	p.send(-w.pid, p.cfg.StopSignal)
}

// dropRemoved forgets scaled-down slots once nothing of theirs runs.
func (p *Pool) dropRemoved() {
	for _, s := range p.slots {
		if s.removing && s.empty() {
			p.releaseSocket(s)
		}
	}
	for len(p.slots) > 1 {
		last := p.slots[len(p.slots)-1]
		if !last.removing || !last.empty() || p.hasRetiring(last) {
			break
		}
		p.slots = p.slots[:len(p.slots)-1]
	}
}

func (p *Pool) hasRetiring(s *slot) bool {
	for _, w := range p.procs {
		if w.slot == s {
			return true
		}
	}
	return false
}

func (p *Pool) allUp() bool {
	for _, s := range p.slots {
		if !s.removing && (s.cur == nil || !s.cur.up) {
			return false
		}
	}
	return true
}
