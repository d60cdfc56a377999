//go:build linux

package workers

import (
	"time"

	"golang.org/x/sys/unix"
)

const (
	// sampleEvery is how often the pool reads its slots' accept queues.
	sampleEvery = 250 * time.Millisecond
	// stallAfter is how long a queue must hold connections without
	// shrinking before its slot counts as stalled and is steered away from.
	stallAfter = 500 * time.Millisecond
	// abortGrace is how long a timed-out worker has between SIGABRT (a
	// Python worker with faulthandler prints where it hung) and SIGKILL.
	abortGrace = time.Second
	// removeSettle is how long a scaled-down slot is steered away from
	// before its queue counts as empty for good: handshakes under way when
	// the program changed still land in it.
	removeSettle = 100 * time.Millisecond
)

// sample reads every slot's accept queue when a sample is due.
func (p *Pool) sample(now time.Time) {
	if p.cfg.Listen == "" || now.Before(p.nextSample) {
		return
	}
	p.nextSample = now.Add(sampleEvery)
	for _, s := range p.slots {
		if s.fd < 0 {
			continue
		}
		q, err := p.queueLen(s.fd)
		if err != nil {
			p.log.Debug("accept queue", "slot", s.id, "err", err)
			continue
		}
		p.observe(s, q, now)
	}
}

// observe judges a slot by its accept queue. Connections that wait at two
// samples in a row, none taken in between, make the slot suspect: it is
// steered away from at once, so that with no new arrivals a worker that
// accepts empties its queue by the next sample and serves again. One whose
// queue still has not shrunk stallAfter after it first held connections is
// stalled. Only an up worker is judged: a queue in front of a dead or
// starting one waits for it.
func (p *Pool) observe(s *slot, q int, now time.Time) {
	prev := s.queue
	s.queue = q
	w := s.cur
	if w == nil || !w.up || !w.stopAt.IsZero() {
		s.suspect, s.stalled, s.busySince = false, false, time.Time{}
		return
	}
	if q == 0 || q < prev { // taken from
		if s.stalled {
			p.log.Info("slot serving again", "slot", s.id, "pid", w.pid, "queue", q,
				"stalled_for", now.Sub(s.busySince).Round(time.Millisecond).String())
		}
		s.suspect, s.stalled, s.busySince = false, false, time.Time{}
		if q > 0 {
			s.busySince = now // but not all: a new run begins
		}
		return
	}
	if s.busySince.IsZero() {
		s.busySince = now
		return
	}
	s.suspect = true
	switch taking := !p.takesNothing(s, w, now); {
	case !s.stalled && !taking:
		s.stalled = true
		p.log.Warn("slot stalled: steering new connections away", "slot", s.id, "pid", w.pid, "queue", q,
			"for", now.Sub(s.busySince).Round(time.Millisecond).String())
	case s.stalled && taking: // its worker works: the backlog is steady, not stuck
		s.stalled, s.busySince = false, now
		p.log.Info("slot serving again", "slot", s.id, "pid", w.pid, "queue", q)
	}
}

// takesNothing reports whether a slot whose queue has held connections,
// never shrinking, since s.busySince has shown for stallAfter that its worker
// takes none. Steered away from, nothing new arrives, so a queue that does not
// shrink is not taken. Still a target (WORKERS=1, every slot backed up, or the
// kernel's hashing), arrivals can match what a busy worker takes and keep the
// queue as long as it was: then only a worker whose process tree used no CPU
// all that while counts as taking nothing (stopped, deadlocked, blocked on
// something outside). A worker spinning in a loop is not found that way: the
// watchdog finds it.
func (p *Pool) takesNothing(s *slot, w *worker, now time.Time) bool {
	if now.Sub(s.busySince) < stallAfter {
		return false
	}
	if p.steering == steerBPF && !p.isTarget(s) {
		return true
	}
	quietSince := s.busySince
	if w.cpuMovedAt.After(quietSince) {
		quietSince = w.cpuMovedAt
	}
	if w.cpuReadAt.IsZero() || w.cpuReadAt.Sub(quietSince) < stallAfter {
		return false
	}
	s.busySince = quietSince // WORKER_TIMEOUT counts from when both stood still
	return true
}

// timeouts kills the workers WORKER_TIMEOUT says are hung: a slot stalled
// that long, a worker that sent WATCHDOG=1 once and then none for that long,
// or one not up that long after it started. SIGABRT first, SIGKILL to its group abortGrace later (reconcile
// sends it, in every phase); its exit then restarts the slot as any death
// does, and the replacement takes the queue. Only workers that serve are
// judged: one told to stop has the grace, and a drain has its own.
func (p *Pool) timeouts(now time.Time) {
	limit := p.cfg.WorkerTimeout
	for _, w := range p.procs {
		if limit <= 0 || !w.abortAt.IsZero() || !w.stopAt.IsZero() {
			continue
		}
		s := w.slot
		switch at := p.watchdogAt(w); {
		case s.cur == w && s.stalled && now.Sub(s.busySince) >= limit:
			p.abort(w, now, "accept queue not taken", "queue", s.queue)
		case !w.up && now.Sub(w.started) >= limit:
			// It spoke sd_notify but never said READY=1 (a silent one is up
			// after 1 s): booting this long is hanging, as Gunicorn has it.
			p.abort(w, now, "not up", "started", now.Sub(w.started).Round(time.Millisecond).String())
		case !at.IsZero() && !now.Before(at):
			p.abort(w, now, "no WATCHDOG=1", "last", now.Sub(w.pinged).Round(time.Millisecond).String())
		}
	}
}

// watchdogAt is when w times out for want of WATCHDOG=1, or zero when it is
// not held to the watchdog: it never sent one, it is stopping (the grace
// bounds it) or already timed out, or WORKER_TIMEOUT is 0.
func (p *Pool) watchdogAt(w *worker) time.Time {
	if p.cfg.WorkerTimeout <= 0 || w.pinged.IsZero() || !w.abortAt.IsZero() || !w.stopAt.IsZero() {
		return time.Time{}
	}
	return w.pinged.Add(p.cfg.WorkerTimeout)
}

func (p *Pool) abort(w *worker, now time.Time, why string, attrs ...any) {
	w.abortAt = now
	w.slot.recycles.Timeout++
	attrs = append([]any{"slot", w.slot.id, "pid", w.pid, "why", why, "timeout", p.cfg.WorkerTimeout.String()}, attrs...)
	p.log.Warn("worker timed out: sending SIGABRT, then SIGKILL", attrs...)
	p.send(w.pid, unix.SIGABRT)
}

// removeStep retires the workers of scaled-down slots. While pinit steers,
// a slot's worker stops only once no connection waits for it (or the grace
// is over): nothing queued on its socket is reset when it goes. Without
// steering the kernel keeps sending it connections, so it stops at once.
func (p *Pool) removeStep(now time.Time) {
	for _, s := range p.slots {
		if !s.removing {
			continue
		}
		if s.next != nil && s.next.stopAt.IsZero() {
			p.retire(s.next) // a replacement that never served
		}
		w := s.cur
		if w == nil || !w.stopAt.IsZero() {
			continue
		}
		if p.steering == steerBPF && s.fd >= 0 && now.Before(s.removeAt.Add(p.cfg.Grace)) {
			if now.Before(s.removeAt.Add(removeSettle)) {
				continue
			}
			if q, err := p.queueLen(s.fd); err == nil && q > 0 {
				continue
			}
		}
		p.retire(w)
	}
}
