//go:build linux

package workers

import (
	"log/slog"
	"os"
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
	Self       string   // pinit's own executable, for the exec stub; "": New finds it (see selfPath)
	Workers    int
	Listen     string // "" binds nothing: workers get no fd 3
	Grace      time.Duration
	DrainDelay time.Duration
	StopSignal unix.Signal
	// WorkerTimeout kills a worker whose slot is stalled this long, or that
	// sent WATCHDOG=1 and then none for this long; 0 disables both.
	WorkerTimeout time.Duration
	// Recycling: a worker whose tree's RSS exceeds MaxMemory (bytes), or
	// older than MaxLifetime plus a random 0..LifetimeJitter, is replaced
	// like a one-slot reload. 0 disables each.
	MaxMemory      int64
	MaxLifetime    time.Duration
	LifetimeJitter time.Duration
	Log            *slog.Logger
	Board          *health.Board
}

// MaxWorkers is the most workers a pool has: what WORKERS may say, and where
// SIGTTIN stops adding.
const MaxWorkers = 1024

// tick is the longest the supervisor sleeps without an event. Like tini's
// one-second sigtimedwait, it bounds what a lost wake-up costs: every tick
// reaps and re-checks every deadline.
const tick = time.Second

// Pool supervises the workers. All its state is owned by the goroutine that
// calls Run; signals, exits, sd_notify messages and timers reach it as events.
type Pool struct {
	cfg   Config
	log   *slog.Logger
	slots []*slot
	procs map[int]*worker // every running worker by pid

	phase     health.Phase
	gen       int       // reload generation
	reloadAt  time.Time // when reloadStep retries a slot's new worker; zero: it waits for nothing timed
	drainAt   time.Time
	graceAt   time.Time
	stopSig   unix.Signal // what the workers get when the drain delay is over
	stopSent  bool
	killed    bool // some worker had to be SIGKILLed at the end of the grace
	notifyEnv string
	reaped    []pid1.Exit // Reap's buffer, reused

	// Steering (steering.go, stall.go).
	steering   steerMode
	group      group[*slot] // the kernel's reuseport array, as pinit made it
	targets    []int        // the indices the attached program spreads over
	nextSample time.Time

	// Counters and times /metrics shows.
	reloads      int
	drainStarted time.Time
	drainEnded   time.Time

	// AfterStart, if set, runs once the first workers are forked: what can
	// wait (the health server) is set up then.
	AfterStart func()

	// The outside world, as funcs so that tests drive the pool without
	// processes, sockets or time.
	now   func() time.Time
	start func(pid1.Proc) (int, error)
	kill  func(pid int, sig os.Signal) error
	bind  func(addr string) (int, error)
	reap  func([]pid1.Exit) []pid1.Exit

	closeFD  func(fd int, leave bool)
	steerTo  func(fd int, targets []int) error
	queueLen func(fd int) (int, error)
	jitter   func(max time.Duration) time.Duration // a random 0..max
	usage    func(pids []int) map[int]health.Usage // /proc, read off the loop
}

// New binds LISTEN once per slot. Nothing is started yet: a bind failure
// leaves nothing running.
func New(cfg Config) (*Pool, error) {
	if cfg.Self == "" {
		self, err := selfPath(procSelfExe, os.Args[0], cfg.Env)
		if err != nil {
			return nil, err
		}
		cfg.Self = self
	}
	closeInheritedOnExec()
	if cfg.Listen != "" {
		if err := checkPortFree(cfg.Listen); err != nil {
			return nil, err
		}
	}
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
		phase: health.PhaseStarting,
		now:   time.Now,
		start: pid1.Start,
		kill:  pid1.Signal,
		bind:  bindSlot,
		reap:  pid1.Reap,

		closeFD:  closeFD,
		steerTo:  steerTo,
		queueLen: acceptQueue,
		jitter:   randomJitter,
		usage:    TreeUsage,
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
		if err := p.openSocket(s); err != nil {
			return nil, err
		}
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
	usage := make(chan map[int]health.Usage, 1)
	if p.cfg.MaxMemory > 0 || (p.cfg.WorkerTimeout > 0 && p.cfg.Listen != "") {
		stop := make(chan struct{})
		defer close(stop)
		go p.watchMemory(usage, stop)
	}
	timer := time.NewTimer(tick)
	defer timer.Stop()
	for !p.done() {
		timer.Reset(p.nextDeadline().Sub(p.now()))
		var ev event
		select {
		case ev.sig = <-signals:
		case m := <-notes:
			ev.note = &m
		case ev.usage = <-usage:
		case <-timer.C:
		}
		p.handle(ev)
	}
	return p.exitStatus()
}

// event is one wake-up of the supervisor: a signal, an sd_notify message,
// or (neither set) the timer.
type event struct {
	sig   os.Signal
	note  *notifyMsg
	usage map[int]health.Usage // what the workers' process trees use, by pid
}

// handle acts on one event, then reconciles. Run calls nothing else, and the
// unit tests drive the pool through it too.
func (p *Pool) handle(ev event) {
	switch {
	case ev.note != nil:
		p.notified(*ev.note)
	case ev.usage != nil:
		p.measured(ev.usage)
	case ev.sig != nil && ev.sig != unix.SIGCHLD:
		p.signal(ev.sig)
	default:
		// SIGCHLD, or the timer: reap either way, so that a SIGCHLD the
		// runtime dropped costs at most one tick.
		p.reaped = p.reap(p.reaped[:0])
		for _, e := range p.reaped {
			p.exited(e)
		}
	}
	p.reconcile()
}

// nextDeadline is the earliest moment reconcile has something to do without
// a new event (a restart, an up timer, a drain step, a kill), and never more
// than a tick away.
func (p *Pool) nextDeadline() time.Time {
	next := p.now().Add(tick)
	consider := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	for _, s := range p.slots {
		if s.empty() { // fillSlots; a reload's retry is reloadAt
			consider(s.restartAt)
		}
	}
	if p.phase == health.PhaseReloading {
		consider(p.reloadAt)
	}
	for _, w := range p.procs {
		if !w.up && !w.spoke {
			consider(w.started.Add(upAfter))
		}
		if !w.up && w.abortAt.IsZero() && w.stopAt.IsZero() && p.cfg.WorkerTimeout > 0 && !p.stopping() {
			consider(w.started.Add(p.cfg.WorkerTimeout))
		}
		if !w.killed {
			consider(w.killAt)
			if !w.abortAt.IsZero() {
				consider(w.abortAt.Add(abortGrace))
			}
		}
		if !p.stopping() { // timeouts runs only then
			consider(p.watchdogAt(w))
		}
		if w.recycleAt.After(p.now()) {
			consider(w.recycleAt)
		}
	}
	if !p.stopping() && p.cfg.Listen != "" {
		consider(p.nextSample)
		for _, s := range p.slots {
			if s.removing && s.cur != nil && s.cur.stopAt.IsZero() {
				// Past the settle time, the queue samples wake the pool.
				if settled := s.removeAt.Add(removeSettle); settled.After(p.now()) {
					consider(settled)
				}
				consider(s.removeAt.Add(p.cfg.Grace))
			}
		}
	}
	if p.stopping() {
		if !p.stopSent {
			consider(p.drainAt)
		}
		for _, w := range p.procs {
			if !w.killed { // drainStep kills at the grace what is not killed yet
				consider(p.graceAt)
				break
			}
		}
	}
	return next
}

func (p *Pool) stopping() bool {
	return p.phase == health.PhaseDraining || p.phase == health.PhaseStopping
}

// done reports whether a stop has begun and every worker is gone.
func (p *Pool) done() bool { return p.stopping() && len(p.procs) == 0 }

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
