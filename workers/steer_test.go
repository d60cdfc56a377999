//go:build linux

package workers

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// loadWord stands in for pickHashOrRandom in x/net/bpf's VM, which has no
// SKF_AD_RXHASH or SKF_AD_RANDOM: the number to spread by is the packet's
// first 4 bytes.
var loadWord = []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}}

func steerTargetSets() map[string][]int {
	every := func(from, step, n int) []int {
		var s []int
		for i := range n {
			s = append(s, from+i*step)
		}
		return s
	}
	r := rand.New(rand.NewPCG(1, 2))
	return map[string][]int{
		"one":                  {0},
		"one, not the first":   {7},
		"all of two":           {0, 1},
		"two apart":            {0, 2},
		"unsorted":             {5, 1, 3, 2},
		"all of 1024":          every(0, 1, 1024),
		"1024 apart":           every(0, 2, 1024),
		"512 odd of 1024":      every(1, 2, 512),
		"pairs":                every(0, 3, 300),
		"random 700 of 1024":   r.Perm(1024)[:700],
		"1024 with gaps":       append(every(0, 1, 1000), every(1010, 5, 24)...),
		"highest index":        {0, maxIndex - 1},
		"runs and single ones": {0, 1, 2, 3, 9, 11, 12, 13, 40, 64, 65},
	}
}

// TestSteerProgramMapsEveryRemainder runs the program, bar its first loads,
// in the VM: remainder r of the spread number goes to the r-th smallest
// target, for every r, and any number lands on a target.
func TestSteerProgramMapsEveryRemainder(t *testing.T) {
	for name, targets := range steerTargetSets() {
		t.Run(name, func(t *testing.T) {
			ins, err := steerInstructions(targets, loadWord)
			if err != nil {
				t.Fatal(err)
			}
			if len(ins) > maxInstructions {
				t.Fatalf("%d instructions", len(ins))
			}
			vm, err := bpf.NewVM(ins)
			if err != nil {
				t.Fatal(err)
			}
			sorted := slices.Sorted(slices.Values(targets))
			run := func(v uint32) int {
				got, err := vm.Run(binary.BigEndian.AppendUint32(nil, v))
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			n := uint32(len(sorted))
			for r := range n {
				if got := run(r); got != sorted[r] {
					t.Fatalf("remainder %d: index %d, want %d", r, got, sorted[r])
				}
			}
			for _, v := range []uint32{n, n + 1, 1<<31 + 3, 1<<32 - 1} {
				if got := run(v); got != sorted[v%n] {
					t.Fatalf("number %d: index %d, want %d", v, got, sorted[v%n])
				}
			}
			if _, err := steerProgram(targets); err != nil {
				t.Fatal(err)
			}
			if name == "1024 apart" && !slices.ContainsFunc(ins, isJump) {
				t.Fatal("no long jump: the case meant to need one does not")
			}
		})
	}
}

func isJump(i bpf.Instruction) bool { _, ok := i.(bpf.Jump); return ok }

// TestSteerProgramLoadsHashOrRandom checks the part the VM cannot run: the
// program spreads by the flow hash, by a random number when the hash is 0,
// modulo the number of targets.
func TestSteerProgramLoadsHashOrRandom(t *testing.T) {
	prog, err := steerProgram([]int{4, 2, 9})
	if err != nil {
		t.Fatal(err)
	}
	want, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtRXHash},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 1},
		bpf.LoadExtension{Num: bpf.ExtRand},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(prog[:len(want)], want) {
		t.Fatalf("program starts\n%v\nwant\n%v", prog[:len(want)], want)
	}
	one, err := steerProgram([]int{6})
	if err != nil {
		t.Fatal(err)
	}
	if want := (bpf.RawInstruction{Op: 0x06, K: 6}); len(one) != 1 || one[0] != want {
		t.Fatalf("one target: %v, want only `ret #6`", one)
	}
}

func TestSteerProgramRejects(t *testing.T) {
	for name, targets := range map[string][]int{
		"no target":   nil,
		"negative":    {0, -1},
		"twice":       {1, 2, 1},
		"past a u16":  {maxIndex},
		"far past it": {1 << 20},
	} {
		if _, err := steerProgram(targets); err == nil {
			t.Errorf("%s: %v accepted", name, targets)
		}
	}
}

// TestSteerKernelTakesTheLargestProgram attaches the longest program the
// pool can need, 1024 targets none of them consecutive, to a real socket: the
// kernel's checker takes it and it fits net.core.optmem_max.
func TestSteerKernelTakesTheLargestProgram(t *testing.T) {
	_, fds := newTestGroup(t, "127.0.0.1", 1)
	prog, err := steerProgram(steerTargetSets()["1024 apart"])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instructions", len(prog))
	if err := attachSteering(fds[0], prog); err != nil {
		t.Fatal(err)
	}
	if err := detachSteering(fds[0]); err != nil {
		t.Fatal(err)
	}
	if err := detachSteering(fds[0]); err != nil {
		t.Fatalf("detach with no program attached: %v", err)
	}
}

func TestSteerRefusals(t *testing.T) {
	prog, err := steerProgram([]int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	// A listener without SO_REUSEPORT has no group to steer: the kernel
	// answers EINVAL.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	must(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	must(t, unix.Listen(fd, 1))
	if err := attachSteering(fd, prog); !steeringRefused(err) {
		t.Errorf("attach to a listener without SO_REUSEPORT: %v, want a refusal", err)
	}

	// Through a slot socket that has left its group, the kernel answers
	// EINVAL too; that is pinit's mistake, not a refusal.
	_, fds := newTestGroup(t, "127.0.0.1", 2)
	must(t, unix.Shutdown(fds[1], unix.SHUT_RD))
	raw := unix.SetsockoptSockFprog(fds[1], unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
		&unix.SockFprog{Len: 1, Filter: &unix.SockFilter{Code: 0x06}})
	t.Logf("the kernel's answer to an attach through a shut-down socket: %v", raw)
	if err := attachSteering(fds[1], prog); err == nil || steeringRefused(err) {
		t.Errorf("attach through a shut-down socket: %v, want an error that is no refusal", err)
	}
	if err := detachSteering(fds[1]); err == nil {
		t.Error("detach through a shut-down socket succeeded")
	}
	if err := attachSteering(-1, prog); err == nil || steeringRefused(err) {
		t.Errorf("attach to fd -1: %v, want an error that is no refusal", err)
	}
	if steeringRefused(nil) {
		t.Error("nil is a refusal")
	}
}
