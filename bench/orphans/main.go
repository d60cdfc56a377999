//go:build linux

// Command orphans measures how fast the init above it reaps orphans. Run it as
// the init's child, as PID 2 of a fresh PID namespace:
//
//	unshare --pid --fork --mount-proc INIT [--] orphans -n 1000 -mode burst
//
// It forks a spawner, which forks n grandchildren and exits at once, so that
// every grandchild is re-parented to PID 1, the init under test. orphans
// itself stays, polls /proc (the namespace's own, thanks to --mount-proc) and
// reports when no process but PID 1 and itself is left: an exited orphan keeps
// its /proc entry as a zombie until PID 1 waits for it, so an empty /proc
// means every orphan was reaped.
//
// -mode burst: the grandchildren block on a pipe; once the spawner is gone
// (they are all live orphans of PID 1), orphans closes the pipe and all n exit
// at once: a storm of SIGCHLDs for PID 1.
// -mode zombies: the grandchildren exit at once, as zombies of the spawner;
// when it exits, all n zombies are re-parented to PID 1 together.
//
//	ORPHANS n=1000 mode=burst spawn_ms=... done_ms=... tail_ms=... max_left=...
//
// spawn_ms: start until the spawner has forked them all and exited (the
// release); done_ms: start until none is left; tail_ms: release until none is
// left, the init's part.
//
// The spawner and the grandchildren are made with a raw clone and run only
// raw system calls in a nosplit function: no Go runtime in the children, which
// are copies of one thread of this process.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	n := flag.Int("n", 1000, "grandchildren to orphan")
	mode := flag.String("mode", "burst", "burst or zombies")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after this")
	flag.Parse()
	if *mode != "burst" && *mode != "zombies" {
		fmt.Fprintln(os.Stderr, "orphans: -mode burst or zombies")
		os.Exit(2)
	}

	self := os.Getpid()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		fmt.Fprintln(os.Stderr, "orphans: pipe:", err)
		os.Exit(1)
	}
	start := time.Now()
	spawner, errno := spawn(int64(*n), *mode == "burst", p[0], p[1])
	if errno != 0 {
		fmt.Fprintln(os.Stderr, "orphans: clone:", errno)
		os.Exit(1)
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(int(spawner), &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	released := time.Now()
	syscall.Close(p[1]) // burst: every grandchild reads EOF and exits
	syscall.Close(p[0])

	maxLeft := 0
	deadline := start.Add(*timeout)
	for {
		left := others(self)
		maxLeft = max(maxLeft, left)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			fmt.Printf("ORPHANS n=%d mode=%s TIMEOUT left=%d after_ms=%d\n", *n, *mode, left, timeout.Milliseconds())
			os.Exit(1)
		}
		time.Sleep(200 * time.Microsecond)
	}
	done := time.Now()
	fmt.Printf("ORPHANS n=%d mode=%s spawn_ms=%.1f done_ms=%.1f tail_ms=%.1f max_left=%d\n",
		*n, *mode, ms(released.Sub(start)), ms(done.Sub(start)), ms(done.Sub(released)), maxLeft)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// others counts the processes in /proc other than PID 1 and self.
func others(self int) int {
	d, err := os.Open("/proc")
	if err != nil {
		return -1
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	left := 0
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err == nil && pid != 1 && pid != self {
			left++
		}
	}
	return left
}

// spawn clones the spawner, which clones n grandchildren and exits. With
// block, each grandchild closes the pipe's write end and reads its read end
// until EOF before it exits. It returns the spawner's pid.
//
//go:nosplit
func spawn(n int64, block bool, rfd, wfd int) (uintptr, syscall.Errno) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 || pid != 0 {
		return pid, errno
	}
	// The spawner.
	for i := int64(0); i < n; i++ {
		gc, _, _ := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if gc == 0 {
			// A grandchild.
			if block {
				syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(wfd), 0, 0)
				var b [1]byte
				for {
					r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(rfd), uintptr(unsafe.Pointer(&b[0])), 1)
					if e != syscall.EINTR && (e != 0 || r == 0) {
						break
					}
				}
			}
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
		}
	}
	syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	return 0, 0 // not reached
}
