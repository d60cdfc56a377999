//go:build linux

package workers

import (
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
	pid1 "github.com/pinit/pinit/init"
)

// signal handles one signal other than SIGCHLD: the table of what each
// means in pool mode.
//
//	SIGTERM, SIGINT     drain: /ready 503, STOP_SIGNAL after DRAIN_DELAY, kill at GRACE_TIMEOUT
//	SIGQUIT             fast stop: SIGQUIT to every worker at once, still bounded by the grace
//	SIGHUP              rolling restart, one slot at a time
//	SIGTTIN, SIGTTOU    one worker more, one fewer
//	anything else       forwarded to every worker
func (p *Pool) signal(sig os.Signal) {
	p.log.Info("signal received", "signal", pid1.SignalName(sig))
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		p.stop(p.cfg.DrainDelay, p.cfg.StopSignal)
	case unix.SIGQUIT:
		p.stop(0, unix.SIGQUIT)
	case unix.SIGHUP:
		if !p.stopping() {
			p.gen++
			p.reloads++
			p.phase = health.PhaseReloading
			p.log.Info("reload started", "generation", p.gen)
		}
	case unix.SIGTTIN:
		p.scaleUp()
	case unix.SIGTTOU:
		p.scaleDown()
	default:
		if !pid1.Forwardable(sig) {
			return
		}
		for _, w := range p.procs {
			p.forward(w, sig)
		}
	}
}

// forward passes sig on to a worker that is up; one that is not yet holds it
// until it is (see markUp). A worker starting has not installed its signal
// handlers yet, and the default action of most signals (SIGUSR1, SIGUSR2,
// SIGALRM, ...) is to terminate: forwarded at once, a storm of SIGUSR1 (log
// reopening, say) killed every replacement worker milliseconds after its
// start, forever. Held signals are delivered once each, in the order they
// came, as the kernel itself keeps a pending signal once however often it
// is sent.
func (p *Pool) forward(w *worker, sig os.Signal) {
	if w.up {
		p.send(w.pid, sig)
		return
	}
	if !slices.Contains(w.held, sig) {
		w.held = append(w.held, sig)
	}
}

// deliverHeld forwards the signals w held while it started.
func (p *Pool) deliverHeld(w *worker) {
	for _, sig := range w.held {
		p.log.Debug("forwarding a signal held while the worker started", "slot", w.slot.id, "pid", w.pid, "signal", pid1.SignalName(sig))
		p.send(w.pid, sig)
	}
	w.held = nil
}

// stop begins a drain: /ready turns 503 at once, workers get sig after delay,
// and whatever runs at the grace deadline is killed. A second stop signal
// skips the rest of the grace.
func (p *Pool) stop(delay time.Duration, sig unix.Signal) {
	now := p.now()
	if p.stopping() {
		p.log.Warn("second stop signal: killing the remaining workers")
		p.graceAt = now
		return
	}
	p.phase = health.PhaseDraining
	p.drainStarted = now
	p.drainAt = now.Add(delay)
	p.graceAt = now.Add(p.cfg.Grace)
	p.stopSig = sig
	for _, s := range p.slots {
		s.restartAt = time.Time{}
	}
	p.log.Info("drain started", "drain_delay", delay.String(), "grace", p.cfg.Grace.String(),
		"stop_signal", pid1.SignalName(sig), "workers", len(p.procs))
}

func (p *Pool) scaleUp() {
	if p.stopping() {
		return
	}
	if n := p.active(); n >= MaxWorkers {
		p.log.Warn("scale up refused: the pool is at its maximum", "workers", n, "max", MaxWorkers)
		return
	}
	for _, s := range p.slots {
		if s.removing { // still winding down: take it back
			if s.fd < 0 && p.cfg.Listen != "" {
				if err := p.openSocket(s); err != nil {
					p.log.Error("scale up", "err", err)
					return
				}
			}
			s.removing = false
			p.log.Info("scaled up", "workers", p.active())
			return
		}
	}
	if _, err := p.addSlot(); err != nil {
		p.log.Error("scale up", "err", err)
		return
	}
	p.log.Info("scaled up", "workers", p.active())
}

// scaleDown removes the highest slot still in use. New connections are
// steered away from it at once; its worker stops in removeStep.
func (p *Pool) scaleDown() {
	if p.stopping() || p.active() <= 1 {
		return
	}
	for i := len(p.slots) - 1; i >= 0; i-- {
		s := p.slots[i]
		if s.removing {
			continue
		}
		s.removing = true
		s.removeAt = p.now()
		s.restartAt = time.Time{}
		if p.steering != steerBPF {
			// The kernel keeps hashing connections to the socket until it
			// leaves the group: pinit's copy goes now, the worker's when
			// it exits.
			p.releaseSocket(s)
		}
		p.log.Info("scaled down", "workers", p.active(), "slot", s.id)
		return
	}
}

// active is how many slots the pool has, not counting those being removed.
func (p *Pool) active() int {
	n := 0
	for _, s := range p.slots {
		if !s.removing {
			n++
		}
	}
	return n
}
