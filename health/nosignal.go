//go:build linux

package health

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// send writes b to c with MSG_NOSIGNAL. pinit forwards every SIGPIPE it gets
// to its children, and a plain write to a connection the peer has reset
// raises SIGPIPE in pinit, which a handler cannot tell from one sent with
// kill. With MSG_NOSIGNAL such a write fails with EPIPE and raises nothing.
// The connection's write deadline still applies.
func send(c net.Conn, b []byte) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		_, err := c.Write(b)
		return err
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := unix.SendmsgN(int(fd), b, nil, nil, unix.MSG_NOSIGNAL)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // wait until writable (or the deadline)
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				werr = err
				return true
			}
			b = b[n:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
