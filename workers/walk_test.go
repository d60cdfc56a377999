//go:build linux

package workers

import (
	"math/rand"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRandomWalk drives pools through random sequences of what can happen to
// them (signals, exits, sd_notify messages, accept queues, time) and checks
// what no sequence may break:
//
//   - Run never wakes for a deadline in the past (the fake's advance fails);
//   - pinit's copy of the reuseport group is the kernel's array, which this
//     test keeps as the kernel does (a listen appends, a leave moves the
//     last socket into the freed index);
//   - every program attached returns only indices of that array that hold a
//     slot's socket, a slot that is not being removed, and is attached
//     through a socket of the group;
//   - when a socket leaves, the program attached does not target the index
//     the kernel moves, unless it is the only target.
func TestRandomWalk(t *testing.T) {
	for seed := range int64(500) {
		walk(t, seed)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

func walk(t *testing.T, seed int64) {
	r := rand.New(rand.NewSource(seed))
	f := newFake(t, 1+r.Intn(4), func(c *Config) {
		c.Listen = ":8080"
		c.WorkerTimeout = time.Duration(r.Intn(4)) * time.Second
		c.Grace = time.Duration(1+r.Intn(5)) * time.Second
		if r.Intn(2) == 0 {
			c.DrainDelay = time.Duration(r.Intn(int(c.Grace/time.Millisecond))) * time.Millisecond
		}
	})
	var kernel []int // the group's socket array, by fd
	for _, s := range f.p.slots {
		kernel = append(kernel, s.fd)
	}
	bind := f.p.bind
	f.p.bind = func(addr string) (int, error) {
		fd, err := bind(addr)
		kernel = append(kernel, fd)
		return fd, err
	}
	f.p.closeFD = func(fd int, leave bool) {
		if !leave {
			return // a drain: nothing is steered any more
		}
		i := slices.Index(kernel, fd)
		if i < 0 {
			t.Errorf("seed %d: fd %d left, but it is not in the group", seed, fd)
			return
		}
		last := len(kernel) - 1
		if prog := f.programs[len(f.programs)-1]; i != last && len(prog) > 1 && slices.Contains(prog, last) {
			t.Errorf("seed %d: fd %d left index %d with the program %v targeting the last index %d", seed, fd, i, prog, last)
		}
		kernel[i] = kernel[last]
		kernel = kernel[:last]
	}
	f.p.steerTo = func(fd int, targets []int) error {
		if !slices.Contains(kernel, fd) {
			t.Errorf("seed %d: program attached through fd %d, not in the group %v", seed, fd, kernel)
		}
		for _, x := range targets {
			if x < 0 || x >= len(kernel) {
				t.Errorf("seed %d: program %v targets %d, past the group's end %d", seed, targets, x, len(kernel))
				continue
			}
			i := slices.IndexFunc(f.p.slots, func(s *slot) bool { return s.fd == kernel[x] })
			if i < 0 || f.p.slots[i].removing {
				t.Errorf("seed %d: program %v targets %d, fd %d, no slot that stays", seed, targets, x, kernel[x])
			}
		}
		f.programs = append(f.programs, slices.Clone(targets))
		return nil
	}
	for step := 0; step < 300 && !f.p.done() && !t.Failed(); step++ {
		var pids []int
		for pid := range f.p.procs {
			pids = append(pids, pid)
		}
		slices.Sort(pids)
		switch k := r.Intn(20); {
		case k < 7:
			f.advance(time.Duration(r.Intn(1500)) * time.Millisecond)
		case k < 9 && len(pids) > 0:
			f.exit(pids[r.Intn(len(pids))], r.Intn(2), 0)
		case k < 11 && len(pids) > 0:
			f.notify(notifyMsg{pid: pids[r.Intn(len(pids))], ready: r.Intn(2) == 0, watchdog: r.Intn(2) == 0})
		case k < 13:
			f.signal(unix.SIGTTIN)
		case k < 15:
			f.signal(unix.SIGTTOU)
		case k < 16:
			f.signal(unix.SIGHUP)
		case k < 17 && r.Intn(4) == 0:
			f.signal(unix.SIGTERM)
		default:
			if s := f.p.slots[r.Intn(len(f.p.slots))]; s.fd >= 0 {
				f.queues[s.fd] = r.Intn(3)
			}
		}
		if f.p.stopping() {
			continue
		}
		var model []int
		for _, s := range f.p.group.socks {
			model = append(model, s.fd)
		}
		if !slices.Equal(model, kernel) {
			t.Errorf("seed %d, step %d: pinit's group %v, the kernel's %v", seed, step, model, kernel)
		}
	}
}
