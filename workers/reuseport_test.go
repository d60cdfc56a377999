//go:build linux

package workers

import (
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testGroup is a reuseport group of real slot sockets on a fresh loopback
// port, bound by bindSlot as the pool binds them.
type testGroup struct {
	t    *testing.T
	host string // as bindSlot takes it: "127.0.0.1", or "" for [::] dual-stack
	port int
}

// newTestGroup binds n slot sockets on host and a port the kernel picks.
func newTestGroup(t *testing.T, host string, n int) (*testGroup, []int) {
	t.Helper()
	g := &testGroup{t: t, host: host}
	fds := make([]int, n)
	for i := range fds {
		fds[i] = g.bind()
	}
	return g, fds
}

// bind binds and listens one more slot socket on the group's address; the
// first one picks the port.
func (g *testGroup) bind() int {
	g.t.Helper()
	fd, err := bindSlot(net.JoinHostPort(g.host, strconv.Itoa(g.port)))
	if err != nil {
		g.t.Fatalf("bind slot on port %d: %v", g.port, err)
	}
	g.t.Cleanup(func() { unix.Close(fd) }) // EBADF if the test closed it: harmless
	if g.port == 0 {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			g.t.Fatal(err)
		}
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			g.port = sa.Port
		case *unix.SockaddrInet6:
			g.port = sa.Port
		}
	}
	return fd
}

// dial opens n fresh IPv4 loopback connections to the group and returns them;
// they are reset when the test ends.
func (g *testGroup) dial(n int) []net.Conn {
	g.t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port))
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			g.t.Fatalf("connection %d of %d to %s: %v", len(conns)+1, n, addr, err)
		}
		conns = append(conns, c)
	}
	g.t.Cleanup(func() { resetAll(conns) })
	return conns
}

// spread opens n connections and returns how many landed in each of the
// listening sockets fds, which must hold every connection made. The accept
// queues are left empty again.
func (g *testGroup) spread(fds []int, n int) []int {
	g.t.Helper()
	conns := g.dial(n)
	counts := waitQueued(g.t, fds, n)
	for i, fd := range fds {
		drainQueue(g.t, fd, counts[i])
	}
	resetAll(conns)
	return counts
}

// waitQueued waits until the accept queues of fds hold want connections in
// all, and returns each queue's length. The client's connect returns before
// the kernel has necessarily processed its final ACK, so the queues may fill
// a moment later. The deadline only bounds a failing test.
func waitQueued(t *testing.T, fds []int, want int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		counts := make([]int, len(fds))
		total := 0
		for i, fd := range fds {
			n, err := acceptQueue(fd)
			if err != nil {
				t.Fatal(err)
			}
			counts[i], total = n, total+n
		}
		if total == want {
			return counts
		}
		if total > want || time.Now().After(deadline) {
			t.Fatalf("accept queues hold %v, %d in all; want %d in all", counts, total, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drainQueue accepts and closes n connections queued on the listening fd.
func drainQueue(t *testing.T, fd, n int) {
	t.Helper()
	for range n {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatalf("accept on fd %d: %v", fd, err)
		}
		unix.Close(c)
	}
}

// resetAll closes conns with a reset, leaving no TIME_WAIT behind to use up
// loopback ports.
func resetAll(conns []net.Conn) {
	for _, c := range conns {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
}

// attachTargets attaches, through fd, a program spreading over targets.
func attachTargets(t *testing.T, fd int, targets ...int) {
	t.Helper()
	prog, err := steerProgram(targets)
	if err != nil {
		t.Fatal(err)
	}
	if err := attachSteering(fd, prog); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
