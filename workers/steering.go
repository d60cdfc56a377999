//go:build linux

package workers

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// How the pool decides which slot a new connection goes to.
type steerMode string

const (
	steerUnknown steerMode = ""       // nothing attached yet
	steerBPF     steerMode = "bpf"    // pinit's reuseport program: only serving slots
	steerKernel  steerMode = "kernel" // the kernel refused the program: its own hash over every slot
)

// steerTo is the real thing behind Pool.steerTo: the program that spreads
// connections over targets, attached to fd's reuseport group.
func steerTo(fd int, targets []int) error {
	prog, err := steerProgram(targets)
	if err != nil {
		return err
	}
	return attachSteering(fd, prog)
}

// closeFD closes pinit's copy of a slot socket. With leave, it first shuts
// the socket down, which takes it out of the reuseport group at once, even
// if a process pinit no longer supervises still holds a copy: the group's
// numbering then changes exactly when pinit says so.
func closeFD(fd int, leave bool) {
	if leave {
		unix.Shutdown(fd, unix.SHUT_RD)
	}
	unix.Close(fd)
}

// openSocket binds the slot's socket; it joins the group at its end.
func (p *Pool) openSocket(s *slot) error {
	fd, err := p.bind(p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("bind LISTEN=%q for slot %d: %w", p.cfg.Listen, s.id, err)
	}
	s.fd = fd
	p.group.join(s)
	return nil
}

// releaseSocket closes pinit's copy of a slot socket for good. While pinit
// steers, the socket leaves the group with it (see closeFD); otherwise (the
// kernel's hashing, or a drain, which steers no more) whoever still holds it
// keeps it listening until they close it.
func (p *Pool) releaseSocket(s *slot) {
	if s.fd < 0 {
		return
	}
	leave := p.steering == steerBPF && !p.stopping()
	if leave {
		p.steerAround(s)
	}
	p.closeFD(s.fd, leave)
	s.fd = -1
	if leave {
		p.group.leave(s)
	}
}

// steerAround prepares the leave of s's socket: the kernel will move the
// group's last socket into s's index, so a program that targets the last
// index would return one past the end until steer attaches the next, and
// the kernel would hash those connections over every socket, steered-away
// ones included. It attaches the program without that index first (see
// group), through s's socket, which is still in the group. Nothing to do
// when s is last itself, or when the last is the only target: then no
// program is right both before and after the leave.
func (p *Pool) steerAround(s *slot) {
	i, ok := p.group.index(s)
	last := p.group.size() - 1
	if !ok || i == last || !slices.Contains(p.targets, last) {
		return
	}
	targets := slices.DeleteFunc(slices.Clone(p.targets), func(t int) bool { return t == last })
	if len(targets) == 0 {
		return
	}
	if err := p.steerTo(s.fd, targets); err != nil {
		p.log.Error("steering", "err", err)
		return
	}
	p.targets = targets
}

func (p *Pool) closeSockets() {
	for _, s := range p.slots {
		p.releaseSocket(s)
	}
}

// steer keeps the reuseport program in step with the slots: new connections
// go only to the fittest (see rank): the serving slots, or when none serves
// (all starting, hung or dead) the next best, where they wait in a queue as
// the kernel would have them wait. The first refusal of the kernel turns
// steering off for good.
func (p *Pool) steer() {
	if p.steering == steerKernel || p.stopping() || p.cfg.Listen == "" {
		return
	}
	best, fd := rankNone, -1
	var chosen []*slot
	for _, s := range p.slots {
		r := s.rank()
		if r < rankNone {
			fd = s.fd
		}
		switch {
		case r < best:
			best, chosen = r, []*slot{s}
		case r == best && r < rankNone:
			chosen = append(chosen, s)
		}
	}
	targets := p.group.indices(chosen)
	if len(targets) == 0 || (p.steering == steerBPF && slices.Equal(targets, p.targets)) {
		return
	}
	if err := p.steerTo(fd, targets); err != nil {
		if p.steering == steerUnknown && steeringRefused(err) {
			p.steering = steerKernel
			p.log.Warn("steering unavailable: the kernel spreads new connections over every slot, hung or not", "err", err)
			return
		}
		p.log.Error("steering", "err", err)
		return
	}
	p.steering, p.targets = steerBPF, targets
	p.log.Debug("steering", "slots", len(chosen), "rank", best)
}

// isTarget reports whether the attached program sends new connections to s.
func (p *Pool) isTarget(s *slot) bool {
	i, ok := p.group.index(s)
	return ok && slices.Contains(p.targets, i)
}
