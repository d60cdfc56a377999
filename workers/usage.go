//go:build linux

package workers

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/health"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture (the kernel converts to it for procfs).
const clockTicks = 100

// procStat is what TreeUsage needs of one /proc/PID/stat.
type procStat struct {
	ppid  int
	ticks uint64 // utime + stime + cutime + cstime
	pages int64  // rss
}

// TreeUsage reads /proc once and returns, for each of pids, the resident
// memory and CPU time of that process and all its descendants: a worker is
// often a process tree (gunicorn's master and its workers, a shell and its
// command). Shared pages are counted once per process, as RSS is. A pid not
// found (gone, or not in this /proc's PID namespace) is left out. It reads
// one small file per process on the machine and nothing else.
func TreeUsage(pids []int) map[int]health.Usage {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, err := dir.Readdirnames(-1) // unsorted: ReadDir would sort
	dir.Close()
	if err != nil {
		return nil
	}
	stats := make(map[int]procStat, len(names))
	children := make(map[int][]int, len(names))
	buf := make([]byte, 1024)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		st, ok := readProcStat(pid, buf)
		if !ok {
			continue
		}
		stats[pid] = st
		children[st.ppid] = append(children[st.ppid], pid)
	}
	page := int64(os.Getpagesize())
	out := make(map[int]health.Usage, len(pids))
	for _, root := range pids {
		if _, ok := stats[root]; !ok {
			continue
		}
		var u health.Usage
		var ticks uint64
		stack := []int{root}
		for len(stack) > 0 {
			pid := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			st := stats[pid]
			u.RSS += st.pages * page
			ticks += st.ticks
			stack = append(stack, children[pid]...)
		}
		u.CPU = float64(ticks) / clockTicks
		out[root] = u
	}
	return out
}

// readProcStat parses /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses: the fields that follow start after the last ')'.
func readProcStat(pid int, buf []byte) (procStat, bool) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return procStat{}, false
	}
	n, err := unix.Read(fd, buf) // one read: the kernel renders the whole line at once
	unix.Close(fd)
	if err != nil || n <= 0 {
		return procStat{}, false
	}
	s := string(buf[:n])
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, state
	if len(f) < 22 {
		return procStat{}, false
	}
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	ppid, _ := strconv.Atoi(f[4-3])
	return procStat{
		ppid:  ppid,
		ticks: num(14) + num(15) + num(16) + num(17),
		pages: int64(num(24)),
	}, true
}
