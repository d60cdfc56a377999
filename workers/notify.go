//go:build linux

package workers

import (
	"bytes"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// notifyMsg is one sd_notify datagram: who sent it, by the kernel's
// credentials, and whether it said READY=1 and WATCHDOG=1.
type notifyMsg struct {
	pid      int
	ready    bool
	watchdog bool
}

// notifySocket is the NOTIFY_SOCKET pinit gives its workers: a datagram socket
// in the abstract namespace (no file to clean up, no permission a worker run as
// another user could lack), autobound by the kernel to a unique name, with
// SO_PASSCRED so that each datagram carries its sender's pid.
type notifySocket struct {
	conn *net.UnixConn
	name string // "@" + the abstract name, as NOTIFY_SOCKET spells it
}

func listenNotify() (*notifySocket, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	// An empty name makes the kernel pick a unique abstract one (autobind).
	if err := unix.Bind(fd, &unix.SockaddrUnix{}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("notify socket: bind: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	name := sa.(*unix.SockaddrUnix).Name
	f := os.NewFile(uintptr(fd), "notify")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if len(name) > 0 && name[0] == 0 {
		name = "@" + name[1:]
	}
	return &notifySocket{conn: c.(*net.UnixConn), name: name}, nil
}

// run reads datagrams until the socket is closed and sends each to out.
func (n *notifySocket) run(out chan<- notifyMsg) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return // closed (no deadline is ever set, so no read times out)
		}
		pid := senderPID(oob[:noob])
		if pid <= 0 {
			continue
		}
		out <- notifyMsg{pid: pid, ready: hasLine(buf[:nb], "READY=1"), watchdog: hasLine(buf[:nb], "WATCHDOG=1")}
	}
}

func (n *notifySocket) close() { n.conn.Close() }

func senderPID(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

// hasLine reports whether the newline-separated sd_notify message holds line.
func hasLine(msg []byte, line string) bool {
	for _, l := range bytes.Split(msg, []byte("\n")) {
		if string(bytes.TrimSpace(l)) == line {
			return true
		}
	}
	return false
}
