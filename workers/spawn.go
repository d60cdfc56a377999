//go:build linux

package workers

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	pid1 "github.com/pinit/pinit/init"
)

// startWorker starts the slot's command with the slot's socket as fd 3.
func (p *Pool) startWorker(s *slot, now time.Time) *worker {
	proc := pid1.Proc{Path: p.cfg.Path, Argv: p.cfg.Argv, Env: p.workerEnv(s), Files: []uintptr{0, 1, 2}}
	if s.fd >= 0 {
		proc.Files = append(proc.Files, uintptr(s.fd))
	}
	// LISTEN_PID and WATCHDOG_PID are known only after the fork, and a
	// worker must be the OOM killer's choice before pinit: pinit's exec stub
	// sees to both, then execs the command.
	proc.Env = append(proc.Env, execVar+"="+p.cfg.Path)
	proc.Path = p.cfg.Self
	pid, err := p.start(proc)
	if err != nil {
		d := s.backoff.delay(0, false)
		s.fails++
		s.restartAt = now.Add(d)
		p.log.Error("start worker", "slot", s.id, "err", err, "retry_in", d.String())
		return nil
	}
	w := &worker{pid: pid, slot: s, gen: p.gen, started: now}
	if p.cfg.MaxLifetime > 0 {
		w.recycleAt = now.Add(p.cfg.MaxLifetime + p.jitter(p.cfg.LifetimeJitter))
	}
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
		case "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WORKER_ID", "NOTIFY_SOCKET",
			"WATCHDOG_USEC", "WATCHDOG_PID", execVar:
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
	if p.watchdog() {
		// WATCHDOG_PID, like LISTEN_PID, is set by the exec stub.
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(p.cfg.WorkerTimeout.Microseconds(), 10))
	}
	return env
}

// watchdog reports whether workers get sd_notify's watchdog variables: with
// WORKER_TIMEOUT, and a NOTIFY_SOCKET to send WATCHDOG=1 to.
func (p *Pool) watchdog() bool { return p.notifyEnv != "" && p.cfg.WorkerTimeout > 0 }

// send signals a worker (pid) or its process group (-pid). ESRCH means it is
// already gone (its exit is on its way to the reaper): a warning, as tini and
// init mode have it.
func (p *Pool) send(pid int, sig os.Signal) {
	switch err := p.kill(pid, sig); err {
	case nil:
	case unix.ESRCH:
		p.log.Warn("worker was gone when signalled", "pid", pid, "signal", pid1.SignalName(sig))
	default:
		p.log.Error("signal worker", "pid", pid, "signal", pid1.SignalName(sig), "err", err)
	}
}
