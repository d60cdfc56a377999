//go:build linux

package workers

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// tcpListen is TCP_LISTEN, the tcpi_state of a listening socket.
const tcpListen = 10

// acceptQueue returns how many connections wait in the accept queue of the
// listening socket fd: handshakes completed, not yet accept()ed.
//
// TCP_INFO on a listener reports its queue in two fields that mean something
// else on a connection (tcp_get_info, net/ipv4/tcp.c): tcpi_unacked is
// sk_ack_backlog, the connections ready for accept(), and tcpi_sacked is
// sk_max_ack_backlog, the backlog listen() set (capped by net.core.somaxconn).
// `ss -lt` prints the same pair as Recv-Q and Send-Q. Half-open connections
// (SYN received, handshake not done) are not counted. Since the fields mean
// the queue only in LISTEN, a socket in any other state (one shut down, say)
// is an error rather than a number.
func acceptQueue(fd int) (n int, err error) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, fmt.Errorf("TCP_INFO of fd %d: %w", fd, err)
	}
	if info.State != tcpListen {
		return 0, fmt.Errorf("accept queue of fd %d: not listening (TCP state %d)", fd, info.State)
	}
	return int(info.Unacked), nil
}
