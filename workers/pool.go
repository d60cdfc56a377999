//go:build linux

package workers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
	pid1 "github.com/pinit/pinit/init"
)

// Config is what the pool needs from pinit's configuration.
type Config struct {
	Path       string   // resolved worker command
	Argv       []string // its argv
	Env        []string // pinit's environment, passed on to every worker
	Self       string   // pinit's own executable, for the exec stub (/proc/self/exe)
	Workers    int
	Listen     string // "" binds nothing: workers get no fd 3
	Grace      time.Duration
	DrainDelay time.Duration
	StopSignal unix.Signal
	Log        *slog.Logger
	Board      *health.Board
}

// Pool supervises the workers. All its state is owned by the goroutine that
// calls Run; signals, exits, sd_notify messages and timers reach it as events.
type Pool struct {
	cfg   Config
	log   *slog.Logger
	slots []*slot
	procs map[int]*worker // every running worker by pid

	state     string // "starting", "running", "reloading", "draining", "stopping"
	gen       int    // reload generation
	drainAt   time.Time
	graceAt   time.Time
	stopSig   unix.Signal // what the workers get when the drain delay is over
	stopSent  bool
	killed    bool // some worker had to be SIGKILLed at the end of the grace
	notifyEnv string

	// AfterStart, if set, runs once the first workers are forked: what can
	// wait (the health server) is set up then.
	AfterStart func()

	// The outside world, as funcs so that tests drive the pool without
	// processes, sockets or time.
	now   func() time.Time
	start func(pid1.Proc) (int, error)
	kill  func(pid int, sig os.Signal) error
	bind  func(addr string) (int, error)
}

// New binds LISTEN once per slot. Nothing is started yet: a bind failure
// leaves nothing running.
func New(cfg Config) (*Pool, error) {
	closeInheritedOnExec()
	p := newPool(cfg)
	for i := 0; i < cfg.Workers; i++ {
		if _, err := p.addSlot(); err != nil {
			p.closeSockets()
			return nil, err
		}
	}
	return p, nil
}

func newPool(cfg Config) *Pool {
	p := &Pool{
		cfg:   cfg,
		log:   cfg.Log,
		procs: make(map[int]*worker),
		state: "starting",
		now:   time.Now,
		start: pid1.Start,
		kill:  pid1.Signal,
		bind:  bindSlot,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cfg.Board == nil {
		p.cfg.Board = &health.Board{}
	}
	return p
}

func (p *Pool) addSlot() (*slot, error) {
	s := &slot{id: len(p.slots), fd: -1}
	if p.cfg.Listen != "" {
		fd, err := p.bind(p.cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bind LISTEN=%q for slot %d: %w", p.cfg.Listen, s.id, err)
		}
		s.fd = fd
	}
	p.slots = append(p.slots, s)
	return s, nil
}

// Run starts the workers and supervises them until a drain or stop ends,
// and returns pinit's exit status: 0 when every worker ended within the
// grace, 1 when any had to be killed.
func (p *Pool) Run(signals <-chan os.Signal) int {
	notes := make(chan notifyMsg, 64)
	if ns, err := listenNotify(); err != nil {
		p.log.Warn("sd_notify unavailable: workers count as up after 1s", "err", err)
	} else {
		p.notifyEnv = "NOTIFY_SOCKET=" + ns.name
		go ns.run(notes)
		defer ns.close()
	}
	defer p.closeSockets()

	p.reconcile()
	if p.AfterStart != nil {
		p.AfterStart()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var buf []pid1.Exit
	for !p.done() {
		timer.Reset(p.nextDeadline().Sub(p.now()))
		select {
		case sig := <-signals:
			if sig == unix.SIGCHLD {
				buf = pid1.Reap(buf[:0])
				for _, e := range buf {
					p.exited(e)
				}
			} else {
				p.signal(sig)
			}
		case m := <-notes:
			p.notified(m)
		case <-timer.C:
		}
		p.reconcile()
	}
	return p.exitStatus()
}

// exitStatus ends a finished drain: 0 when every worker ended within the
// grace, 1 when any had to be killed.
func (p *Pool) exitStatus() int {
	if p.killed {
		p.log.Warn("drain finished: workers had to be killed", "grace", p.cfg.Grace.String())
		return 1
	}
	p.log.Info("drain finished")
	return 0
}

// done reports whether a stop has begun and every worker is gone.
func (p *Pool) done() bool {
	return (p.state == "draining" || p.state == "stopping") && len(p.procs) == 0
}

// signal handles one signal: the table of what each means in pool mode.
func (p *Pool) signal(sig os.Signal) {
	p.log.Log(context.Background(), pid1.SignalLevel(sig), "signal received", "signal", pid1.SignalName(sig))
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		p.stop(p.cfg.DrainDelay, p.cfg.StopSignal)
	case unix.SIGQUIT:
		p.stop(0, unix.SIGQUIT)
	case unix.SIGHUP:
		if !p.stopping() {
			p.gen++
			p.state = "reloading"
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
			p.send(w.pid, sig)
		}
	}
}

func (p *Pool) stopping() bool { return p.state == "draining" || p.state == "stopping" }

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
	p.state = "draining"
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
	for _, s := range p.slots {
		if s.removing { // still winding down: take it back
			if s.fd < 0 && p.cfg.Listen != "" {
				fd, err := p.bind(p.cfg.Listen)
				if err != nil {
					p.log.Error("scale up", "err", fmt.Errorf("bind LISTEN=%q for slot %d: %w", p.cfg.Listen, s.id, err))
					return
				}
				s.fd = fd
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
		s.restartAt = time.Time{}
		for _, w := range []*worker{s.cur, s.next} {
			if w != nil {
				p.retire(w)
			}
		}
		// Out of the SO_REUSEPORT group as soon as the worker closes its
		// copy: new connections go to the other slots instead of queueing
		// on a socket nobody will accept from.
		s.closeSocket()
		p.log.Info("scaled down", "workers", p.active(), "slot", s.id)
		return
	}
}

func (p *Pool) active() int {
	n := 0
	for _, s := range p.slots {
		if !s.removing {
			n++
		}
	}
	return n
}

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
		return
	case w == s.cur:
		s.cur = nil
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
	s.restarts++
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
	if m.ready && !w.up {
		p.markUp(w, "READY=1")
	}
}

func (p *Pool) markUp(w *worker, why string) {
	w.up = true
	w.slot.fails = 0
	p.log.Debug("worker up", "slot", w.slot.id, "pid", w.pid, "by", why)
}

// reconcile moves the pool towards what it should be at p.now(): workers
// started in empty slots, up timers, reload steps, drain steps, kills. It is
// called after every event and publishes the state for the health server.
func (p *Pool) reconcile() {
	now := p.now()
	for _, w := range p.procs {
		if !w.up && !w.spoke && !now.Before(w.started.Add(upAfter)) {
			p.markUp(w, "running 1s")
		}
		if !w.killed && !w.killAt.IsZero() && !now.Before(w.killAt) {
			p.log.Warn("worker did not stop within the grace: killing its process group", "slot", w.slot.id, "pid", w.pid)
			p.send(-w.pid, unix.SIGKILL)
			w.killed = true
		}
	}
	if p.stopping() {
		p.drainStep(now)
	} else {
		p.fillSlots(now)
		p.reloadStep(now)
		if p.state == "starting" && p.allUp() {
			p.state = "running"
			p.log.Info("all workers up", "workers", p.active())
		}
	}
	p.dropRemoved()
	p.publish(now)
}

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
	if p.state != "reloading" {
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
			old := s.cur
			s.cur, s.next = s.next, nil
			if old != nil {
				p.retire(old)
			}
		}
		if s.cur == nil {
			return // restarting after a death; the new one is of this generation
		}
		if s.cur.gen < p.gen {
			if now.Before(s.restartAt) {
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
	p.state = "running"
	p.log.Info("reload finished", "generation", p.gen)
}

// drainStep sends the stop signal once the drain delay is over and kills
// what is left at the grace deadline.
func (p *Pool) drainStep(now time.Time) {
	if !p.stopSent && !now.Before(p.drainAt) {
		p.stopSent = true
		p.state = "stopping"
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

func (p *Pool) dropRemoved() {
	for _, s := range p.slots {
		if s.removing && s.empty() {
			s.closeSocket()
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

// startWorker starts the slot's command with the slot's socket as fd 3.
func (p *Pool) startWorker(s *slot, now time.Time) *worker {
	proc := pid1.Proc{Path: p.cfg.Path, Argv: p.cfg.Argv, Env: p.workerEnv(s), Files: []uintptr{0, 1, 2}}
	if s.fd >= 0 {
		// LISTEN_PID is known only after the fork: pinit's exec stub sets it.
		proc.Files = append(proc.Files, uintptr(s.fd))
		proc.Env = append(proc.Env, execVar+"="+p.cfg.Path)
		proc.Path = p.cfg.Self
	}
	pid, err := p.start(proc)
	if err != nil {
		d := s.backoff.delay(0, false)
		s.fails++
		s.restartAt = now.Add(d)
		p.log.Error("start worker", "slot", s.id, "err", err, "retry_in", d.String())
		return nil
	}
	w := &worker{pid: pid, slot: s, gen: p.gen, started: now}
	p.procs[pid] = w
	p.log.Info("worker started", "slot", s.id, "pid", pid)
	return w
}

// workerEnv is pinit's environment without variables that would mislead the
// worker, plus the socket-activation and notify variables of its slot.
func (p *Pool) workerEnv(s *slot) []string {
	env := make([]string, 0, len(p.cfg.Env)+6)
	for _, kv := range p.cfg.Env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WORKER_ID", "NOTIFY_SOCKET", execVar:
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "WORKER_ID="+strconv.Itoa(s.id))
	if s.fd >= 0 {
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES=pinit")
	}
	if p.notifyEnv != "" {
		env = append(env, p.notifyEnv)
	}
	return env
}

// send signals a worker (pid) or its process group (-pid).
func (p *Pool) send(pid int, sig os.Signal) {
	if err := p.kill(pid, sig); err != nil && err != unix.ESRCH {
		p.log.Error("signal worker", "pid", pid, "signal", pid1.SignalName(sig), "err", err)
	}
}

func (p *Pool) closeSockets() {
	for _, s := range p.slots {
		s.closeSocket()
	}
}

// nextDeadline is the earliest moment reconcile has something to do without
// a new event: a restart, an up timer, a drain step, a kill.
func (p *Pool) nextDeadline() time.Time {
	next := p.now().Add(time.Hour)
	consider := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	for _, s := range p.slots {
		consider(s.restartAt)
	}
	for _, w := range p.procs {
		if !w.up && !w.spoke {
			consider(w.started.Add(upAfter))
		}
		if !w.killed {
			consider(w.killAt)
		}
	}
	if p.stopping() {
		if !p.stopSent {
			consider(p.drainAt)
		}
		if !p.killed {
			consider(p.graceAt)
		}
	}
	return next
}

// publish hands the health server a snapshot.
func (p *Pool) publish(now time.Time) {
	st := health.Status{State: p.state, Live: false, Ready: !p.stopping() && p.allUp()}
	for _, s := range p.slots {
		if s.removing {
			continue
		}
		if !s.crashLooping() {
			st.Live = true
		}
		hw := health.Worker{Slot: s.id, Restarts: s.restarts}
		switch w := s.cur; {
		case w == nil && p.stopping():
			hw.State = "exited"
		case w == nil:
			hw.State = "backoff"
		default:
			hw.PID, hw.Started = w.pid, w.started
			switch {
			case !w.stopAt.IsZero():
				hw.State = "stopping"
			case w.up:
				hw.State = "up"
			default:
				hw.State = "starting"
			}
		}
		st.Workers = append(st.Workers, hw)
	}
	slices.SortFunc(st.Workers, func(a, b health.Worker) int { return a.Slot - b.Slot })
	p.cfg.Board.Set(st)
}
