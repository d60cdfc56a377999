//go:build linux

package workers

import (
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptQueue counts the connections waiting on a listening socket, and
// refuses to read a queue off a socket that is not listening.
func TestAcceptQueue(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 1)
	fd := fds[0]
	if n, err := acceptQueue(fd); n != 0 || err != nil {
		t.Fatalf("idle listener: %d, %v; want 0", n, err)
	}
	conns := g.dial(3)
	waitQueued(t, fds, 3)
	drainQueue(t, fd, 1)
	if n, err := acceptQueue(fd); n != 2 || err != nil {
		t.Fatalf("after one accept: %d, %v; want 2", n, err)
	}

	// A connection is no listener: its tcpi_unacked means something else.
	raw, err := conns[0].(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(c uintptr) {
		if n, err := acceptQueue(int(c)); err == nil {
			t.Errorf("a connected socket has an accept queue of %d", n)
		}
	})

	// Nor is a listener that was shut down: its queued connections are gone.
	if err := unix.Shutdown(fd, unix.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	if n, err := acceptQueue(fd); err == nil {
		t.Errorf("shut-down listener has an accept queue of %d", n)
	}
	conns[1].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conns[1].Read(make([]byte, 1)); !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("a connection queued on the shut-down listener reads %v, want a reset", err)
	}
}
