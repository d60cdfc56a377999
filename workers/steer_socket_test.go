//go:build linux

package workers

import (
	"slices"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Steering on real sockets: fresh loopback ports, every connection counted in
// the accept queue it lands in.

// checkShare fails unless each of counts at the positions want holds 40-60 %
// of total.
func checkShare(t *testing.T, counts []int, total int, want ...int) {
	t.Helper()
	t.Logf("connections per socket: %v", counts)
	for _, i := range want {
		if counts[i]*100 < total*40 || counts[i]*100 > total*60 {
			t.Errorf("socket %d took %d of %d connections (%v), want 40-60 %%", i, counts[i], total, counts)
		}
	}
}

// TestSteerSpreadsEvenly: over both sockets of a group, each takes about half.
func TestSteerSpreadsEvenly(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 2)
	attachTargets(t, fds[0], 0, 1)
	checkShare(t, g.spread(fds, 1000), 1000, 0, 1)
}

// TestSteerSkipsTheOthers: a socket that is no target gets no connection.
func TestSteerSkipsTheOthers(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 3)
	attachTargets(t, fds[1], 0, 2)
	counts := g.spread(fds, 1000)
	if counts[1] != 0 {
		t.Errorf("socket 1 took %d connections (%v), want none", counts[1], counts)
	}
	checkShare(t, counts, 1000, 0, 2)
}

// TestSteerAfterLeave: once a socket leaves the group (a shutdown, with a
// worker's dup of it still open), the group model's indices steer right.
func TestSteerAfterLeave(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 4)
	var m group[int]
	for _, fd := range fds {
		m.join(fd)
	}
	a, b, c, d := fds[0], fds[1], fds[2], fds[3]
	fd3, err := unix.Dup(b)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd3)
	must(t, unix.Shutdown(b, unix.SHUT_RD))
	m.leave(b)
	targets := m.indices([]int{a, d})
	if !slices.Equal(targets, []int{0, 1}) {
		t.Fatalf("model indices of a and d: %v, want [0 1] (d moved into b's place)", targets)
	}
	attachTargets(t, c, targets...)
	counts := g.spread([]int{a, c, d}, 1000)
	if counts[1] != 0 {
		t.Errorf("c took %d connections (%v), want none", counts[1], counts)
	}
	checkShare(t, counts, 1000, 0, 2)
}

// TestSteerDualStack: a group of [::] sockets that take IPv4 too, as
// bindSlot(":port") binds them, is steered for IPv4 clients.
func TestSteerDualStack(t *testing.T) {
	g, fds := newTestGroup(t, "", 3)
	if sa, _ := unix.Getsockname(fds[0]); sa == nil {
		t.Fatal("no address")
	} else if _, v6 := sa.(*unix.SockaddrInet6); !v6 {
		t.Skip("no IPv6 here: bindSlot fell back to IPv4")
	}
	attachTargets(t, fds[0], 2, 0)
	counts := g.spread(fds, 1000)
	if counts[1] != 0 {
		t.Errorf("socket 1 took %d connections (%v), want none", counts[1], counts)
	}
	checkShare(t, counts, 1000, 0, 2)
}

// TestSteerSpreadsWithoutAFlowHash runs the program's other branch on real
// sockets: as if every SYN came without a flow hash, each is spread by the
// kernel's random number.
func TestSteerSpreadsWithoutAFlowHash(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 3)
	noHash := slices.Clone(pickHashOrRandom)
	noHash[0] = bpf.LoadConstant{Dst: bpf.RegA, Val: 0}
	ins, err := steerInstructions([]int{0, 2}, noHash)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := bpf.Assemble(ins)
	if err != nil {
		t.Fatal(err)
	}
	if err := attachSteering(fds[0], prog); err != nil {
		t.Fatal(err)
	}
	counts := g.spread(fds, 1000)
	if counts[1] != 0 {
		t.Errorf("socket 1 took %d connections (%v), want none", counts[1], counts)
	}
	checkShare(t, counts, 1000, 0, 2)
}

// TestSteerLoopbackFlowHash reports how many loopback SYNs reach the program
// with skb->hash 0. It asserts nothing about the kernel: the program spreads
// either way.
func TestSteerLoopbackFlowHash(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 2)
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtRXHash},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := attachSteering(fds[0], prog); err != nil {
		t.Fatal(err)
	}
	counts := g.spread(fds, 200)
	t.Logf("%d of 200 loopback SYNs had no flow hash", counts[0])
}

// TestSteerLargeGroup steers over the 512 odd indices of a 1024-socket group,
// a program whose search needs long jumps: no connection lands on an even one.
func TestSteerLargeGroup(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 1024)
	attachTargets(t, fds[0], steerTargetSets()["512 odd of 1024"]...)
	counts := g.spread(fds, 2048)
	odd := 0
	for i, n := range counts {
		if i%2 == 0 && n != 0 {
			t.Fatalf("socket %d, an even one, took %d connections", i, n)
		}
		if n > 0 {
			odd++
		}
	}
	t.Logf("%d of the 512 odd sockets took connections", odd)
}

// TestSteerProgramOutlivesItsSocket: the program belongs to the group, not to
// the socket it was attached through. It goes only with the group's last
// socket.
func TestSteerProgramOutlivesItsSocket(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 3)
	a, b, c := fds[0], fds[1], fds[2]
	attachTargets(t, b, 0) // a
	only := func(step string, listening []int, want int) {
		t.Helper()
		counts := g.spread(listening, 20)
		if counts[want] != 20 {
			t.Fatalf("%s: connections went to %v, want all to socket %d", step, counts, want)
		}
	}
	// b leaves, c moves into index 1, the program stays.
	must(t, unix.Shutdown(b, unix.SHUT_RD))
	only("b shut down", []int{a, c}, 0)
	must(t, unix.Close(b))
	only("b closed", []int{a, c}, 0)

	// A new socket joins at the end and is steered to by its index.
	d := g.bind()
	attachTargets(t, a, 2)
	only("d joined, `ret #2`", []int{a, c, d}, 2)

	// When every socket is gone, so is the group and its program: the next
	// sockets on the port are spread by the kernel's hash.
	for _, fd := range []int{a, c, d} {
		must(t, unix.Close(fd))
	}
	next := []int{g.bind(), g.bind()}
	counts := g.spread(next, 40)
	if slices.Contains(counts, 40) {
		t.Errorf("new group on the port: %v, want the kernel's spread over both", counts)
	}
}
