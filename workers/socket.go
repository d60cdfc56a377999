//go:build linux

package workers

import (
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenBacklog is the accept queue of each slot socket; the kernel caps it at
// net.core.somaxconn.
const listenBacklog = 4096

// bindSlot creates one slot's listening socket on addr with SO_REUSEPORT, so
// that every slot can bind the same address and the kernel spreads incoming
// connections across them. The socket is blocking, as systemd passes sockets,
// and close-on-exec: it reaches a worker only as fd 3, by Start's Files.
// ":port" binds every address, IPv6 and IPv4, falling back to IPv4 alone
// where the kernel has no IPv6.
func bindSlot(addr string) (int, error) { return bindAddr(addr, false) }

// checkPortFree fails when something already listens on addr. Binding it
// without SO_REUSEPORT (SO_REUSEADDR still lets TIME_WAIT connections of an
// earlier run be) fails exactly then. With SO_REUSEPORT alone, a second pool
// of the same user on the same port would bind without error, join the
// first pool's reuseport group, and steer by its numbering into the other
// pool's sockets.
func checkPortFree(addr string) error {
	fd, err := bindAddr(addr, true)
	if err != nil {
		if err == unix.EADDRINUSE {
			return fmt.Errorf("LISTEN=%q: another process already listens there, and two pools cannot share a port: %w", addr, err)
		}
		return fmt.Errorf("bind LISTEN=%q: %w", addr, err)
	}
	unix.Close(fd)
	return nil
}

// bindAddr binds addr; probe binds it without SO_REUSEPORT and without
// listening, for checkPortFree.
func bindAddr(addr string, probe bool) (int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return -1, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return -1, fmt.Errorf("bad port %q", portStr)
	}
	if host == "" {
		fd, err := bindSockaddr(unix.AF_INET6, &unix.SockaddrInet6{Port: port}, probe)
		if err != unix.EAFNOSUPPORT {
			return fd, err
		}
		return bindSockaddr(unix.AF_INET, &unix.SockaddrInet4{Port: port}, probe)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return -1, fmt.Errorf("resolve %q: %w", host, err)
		}
		ip = ips[0]
	}
	if ip4 := ip.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		return bindSockaddr(unix.AF_INET, sa, probe)
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ip.To16())
	return bindSockaddr(unix.AF_INET6, sa, probe)
}

func bindSockaddr(family int, sa unix.Sockaddr, probe bool) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	type opt struct{ level, name, value int }
	reuseport := 1
	if probe {
		reuseport = 0
	}
	opts := []opt{
		{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		{unix.SOL_SOCKET, unix.SO_REUSEPORT, reuseport},
		// Accepted connections inherit TCP_NODELAY from the listener. A
		// worker that wraps fd 3 without knowing it is TCP (uvicorn --fd
		// takes it for a unix socket) never sets it, and each small
		// keep-alive response then waits ~40 ms for a delayed ACK.
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
	}
	if in6, ok := sa.(*unix.SockaddrInet6); ok && in6.Addr == [16]byte{} {
		opts = append(opts, opt{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0}) // [::] takes IPv4 too
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if probe {
		return fd, nil
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
