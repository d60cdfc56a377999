//go:build linux

package workers

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Steering: which socket of a reuseport group takes a new connection.
//
// All the slot sockets bound to LISTEN form one reuseport group, an array of
// sockets in the kernel (struct sock_reuseport, net/core/sock_reuseport.c).
// For each SYN the kernel picks a socket of that array: by default
// socks[reciprocal_scale(hash, num_socks)], a hash of the connection's
// addresses; with a classic BPF program attached to the group
// (SO_ATTACH_REUSEPORT_CBPF), socks[program's return value]. A return value
// at or past num_socks is not an error: the kernel falls back to its own hash
// over every socket of the group, steered-away ones included. So a program
// must only ever return indices that exist, and pinit must know which socket
// sits at which index: see group.
//
// The program steerProgram builds spreads connections evenly over a set of
// indices, the targets: it loads the packet's flow hash (skb->hash,
// SKF_AD_RXHASH), or a random number (SKF_AD_RANDOM) when the hash is 0, takes
// it modulo the number of targets, and maps that remainder to a target by a
// binary search over runs of consecutive targets. All the slots serving is the
// common case: one run, no search at all.

// maxInstructions is the kernel's limit on a classic BPF program.
const maxInstructions = unix.BPF_MAXINSNS

// maxIndex bounds a reuseport index: the kernel counts sockets in a u16.
const maxIndex = 1<<16 - 1

// pickHashOrRandom leaves in A the number a connection is spread by: the flow
// hash of the packet, or a random number where the hash is 0 (a NIC or driver
// that computes none, no RPS). On loopback the SYN carries the connecting
// socket's random txhash, so the hash is what spreads there.
var pickHashOrRandom = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtRXHash},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 1},
	bpf.LoadExtension{Num: bpf.ExtRand},
}

// steerProgram assembles a reuseport program that sends each new connection
// to one of targets, indices into the group's socket array, spread evenly.
// The order of targets does not matter; they must be distinct.
func steerProgram(targets []int) ([]bpf.RawInstruction, error) {
	ins, err := steerInstructions(targets, pickHashOrRandom)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(ins)
}

// steerInstructions is steerProgram before assembly, with the instructions
// that load the number to spread by given: tests run the rest in x/net/bpf's
// VM, which has no SKF_AD_RXHASH or SKF_AD_RANDOM.
func steerInstructions(targets []int, pick []bpf.Instruction) ([]bpf.Instruction, error) {
	sorted, err := checkTargets(targets)
	if err != nil {
		return nil, err
	}
	if len(sorted) == 1 {
		return []bpf.Instruction{bpf.RetConstant{Val: uint32(sorted[0])}}, nil
	}
	ins := slices.Clone(pick)
	ins = append(ins, bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(len(sorted))})
	ins = append(ins, mapRuns(runsOf(sorted))...)
	if len(ins) > maxInstructions {
		return nil, fmt.Errorf("steering program for %d targets: %d instructions, the kernel takes %d",
			len(targets), len(ins), maxInstructions)
	}
	return ins, nil
}

func checkTargets(targets []int) ([]int, error) {
	if len(targets) == 0 {
		return nil, errors.New("steering program: no target")
	}
	sorted := slices.Clone(targets)
	slices.Sort(sorted)
	for i, t := range sorted {
		if t < 0 || t >= maxIndex {
			return nil, fmt.Errorf("steering program: index %d out of range", t)
		}
		if i > 0 && sorted[i-1] == t {
			return nil, fmt.Errorf("steering program: index %d given twice", t)
		}
	}
	return sorted, nil
}

// run is a stretch of consecutive targets: remainders from..from+n-1 go to
// indices first..first+n-1.
type run struct{ from, first, n int }

func runsOf(sorted []int) []run {
	var runs []run
	for i, t := range sorted {
		if i > 0 && sorted[i-1] == t-1 {
			runs[len(runs)-1].n++
			continue
		}
		runs = append(runs, run{from: i, first: t, n: 1})
	}
	return runs
}

// mapRuns turns the remainder in A into its target and returns it: a binary
// search on the remainder down to the run holding it, then the run's offset
// added. A conditional jump skips at most 255 instructions; a longer left
// branch is jumped over with an unconditional jump, which has 32 bits.
func mapRuns(runs []run) []bpf.Instruction {
	if len(runs) == 1 {
		r := runs[0]
		switch {
		case r.n == 1:
			return []bpf.Instruction{bpf.RetConstant{Val: uint32(r.first)}}
		case r.first == r.from:
			return []bpf.Instruction{bpf.RetA{}}
		}
		return []bpf.Instruction{
			bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: uint32(r.first - r.from)},
			bpf.RetA{},
		}
	}
	mid := len(runs) / 2
	left, right := mapRuns(runs[:mid]), mapRuns(runs[mid:])
	split := uint32(runs[mid].from)
	var ins []bpf.Instruction
	if len(left) <= 255 {
		ins = append(ins, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: split, SkipTrue: uint8(len(left))})
	} else {
		ins = append(ins,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: split, SkipFalse: 1},
			bpf.Jump{Skip: uint32(len(left))})
	}
	ins = append(ins, left...)
	return append(ins, right...)
}

// attachSteering attaches prog to the reuseport group of the listening
// socket fd, replacing the group's program if it had one. The program belongs
// to the group, not to fd: it keeps steering after fd leaves the group, until
// the group's last socket does. fd must be listening, in the group: through a
// socket that has left it, the kernel answers EINVAL, which would read as a
// refusal, so attachSteering checks first and fails otherwise.
// steeringRefused tells the errors that mean the kernel will not steer.
func attachSteering(fd int, prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > maxInstructions {
		return fmt.Errorf("attach reuseport program: %d instructions", len(prog))
	}
	if err := listening(fd); err != nil {
		return fmt.Errorf("attach reuseport program: %w", err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, r := range prog {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
	runtime.KeepAlive(filter)
	if err != nil {
		return fmt.Errorf("attach reuseport program (%d instructions) to fd %d: %w", len(prog), fd, err)
	}
	return nil
}

// detachSteering removes the program of the reuseport group of the listening
// socket fd, if it has one: the kernel's hash spreads connections over every
// socket again. Through a socket that has left the group the kernel would
// answer ENOENT, as for a group without a program, so that is checked first.
func detachSteering(fd int) error {
	if err := listening(fd); err != nil {
		return fmt.Errorf("detach reuseport program: %w", err)
	}
	err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_REUSEPORT_BPF, 0)
	if err != nil && !errors.Is(err, unix.ENOENT) { // ENOENT: no program attached
		return fmt.Errorf("detach reuseport program from fd %d: %w", fd, err)
	}
	return nil
}

// steeringRefused reports whether err, from attachSteering, means that this
// kernel or sandbox will not take a reuseport program, so that the pool
// should run on the kernel's hashing instead:
//
//   - ENOPROTOOPT: no SO_ATTACH_REUSEPORT_CBPF (Linux before 4.5, gVisor).
//   - EPERM, EACCES: the filter is locked (SO_LOCK_FILTER), or a seccomp
//     profile or LSM denies it.
//   - ENOSYS, EOPNOTSUPP: a seccomp profile or a sandbox without it.
//   - EINVAL: the kernel's checker rejects the program (an old kernel without
//     an ancillary load it uses), or the socket is not SO_REUSEPORT.
//   - ENOMEM: the program, translated to eBPF, is larger than
//     net.core.optmem_max of the socket's network namespace. At 20480, older
//     kernels' default (this 6.18 has 131072), that is past 845 targets none
//     of them consecutive (1696 instructions), more than 1024 sockets can
//     give: they make at most 512 runs.
//
// EBADF and ENOTSOCK are pinit's own mistakes and are not refusals.
func steeringRefused(err error) bool {
	for _, e := range []error{unix.ENOPROTOOPT, unix.EPERM, unix.EACCES, unix.ENOSYS,
		unix.EOPNOTSUPP, unix.EINVAL, unix.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// listening fails unless fd is a listening socket, one in its reuseport group
// if it has SO_REUSEPORT.
func listening(fd int) error {
	on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("fd %d: %w", fd, err)
	}
	if on == 0 {
		return fmt.Errorf("fd %d is not listening", fd)
	}
	return nil
}
