//go:build linux

package workers

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBindSlotSharesThePort binds the same address twice, as two slots do,
// and checks the options every slot socket carries.
func TestBindSlotSharesThePort(t *testing.T) {
	first, err := bindSlot("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(first)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	second, err := bindSlot(addr)
	if err != nil {
		t.Fatalf("second slot on %s: %v (SO_REUSEPORT missing?)", addr, err)
	}

	for _, fd := range []int{first, second} {
		for _, o := range []struct {
			name         string
			level, which int
		}{
			{"SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT},
			{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY},
		} {
			if v, err := unix.GetsockoptInt(fd, o.level, o.which); err != nil || v == 0 {
				t.Errorf("fd %d: %s = %d, %v; want it set", fd, o.name, v, err)
			}
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("fd %d is not close-on-exec: it would leak into every worker", fd)
		}
	}

	// A connection accepted on a slot socket inherits TCP_NODELAY.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := os.NewFile(uintptr(first), "slot") // owns first from here on
	defer f.Close()
	ln, err := net.FileListener(f) // dups the fd
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f2 := os.NewFile(uintptr(second), "slot")
	defer f2.Close()
	ln2, err := net.FileListener(f2)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	// The kernel picked one of the two sockets for the connection.
	accepted := make(chan net.Conn, 2)
	for _, l := range []net.Listener{ln, ln2} {
		go func() {
			if a, err := l.Accept(); err == nil {
				accepted <- a
			}
		}()
	}
	a := <-accepted
	defer a.Close()
	raw, err := a.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	raw.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY) })
	if err != nil || v == 0 {
		t.Errorf("accepted connection: TCP_NODELAY = %d, %v; want it inherited from the slot socket", v, err)
	}
}

func TestBindSlotAddresses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", ":0", "[::1]:0", "localhost:0"} {
		fd, err := bindSlot(addr)
		if err != nil {
			if addr == "[::1]:0" {
				t.Logf("%s: %v (no IPv6 loopback here)", addr, err)
				continue
			}
			t.Errorf("bindSlot(%q): %v", addr, err)
			continue
		}
		unix.Close(fd)
	}
	if _, err := bindSlot("nohost.invalid:80"); err == nil {
		t.Error("bindSlot of an unresolvable host succeeded")
	}
}

// A second pool on a port the first listens on would share its reuseport
// group: it must not start.
func TestCheckPortFree(t *testing.T) {
	fd, err := bindSlot("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	sa, _ := unix.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	if err := checkPortFree(addr); err == nil || !strings.Contains(err.Error(), "another process already listens") {
		t.Fatalf("checkPortFree(%s) = %v, want it in use", addr, err)
	}
	unix.Close(fd)
	if err := checkPortFree(addr); err != nil {
		t.Fatalf("checkPortFree(%s) once closed = %v", addr, err)
	}
}
