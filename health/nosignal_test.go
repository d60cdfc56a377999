//go:build linux

package health

import (
	"errors"
	"net"
	"os"
	"os/signal"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSendRaisesNoSIGPIPE writes to a connection whose peer is gone: send
// must report EPIPE (or a reset) and pinit must get no SIGPIPE, which it
// would forward to its children. The control write with plain Write shows
// that the setup does raise SIGPIPE.
func TestSendRaisesNoSIGPIPE(t *testing.T) {
	pipes := make(chan os.Signal, 8)
	signal.Notify(pipes, unix.SIGPIPE)
	defer signal.Stop(pipes)

	brokenConn := func() net.Conn {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		peer.(*net.TCPConn).SetLinger(0) // close with RST
		peer.Close()
		// Wait for the reset to arrive: a read sees it.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("read on a reset connection succeeded")
		}
		return c
	}

	c := brokenConn()
	defer c.Close()
	var err error
	for range 3 {
		if err = send(c, []byte("HTTP/1.1 200 OK\r\n\r\n")); err != nil {
			break
		}
	}
	if !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("send to a reset connection: err %v, want EPIPE or ECONNRESET", err)
	}
	select {
	case <-pipes:
		t.Fatal("send raised SIGPIPE")
	default:
	}

	// Negative control: a plain Write on such a connection does raise it.
	ctl := brokenConn()
	defer ctl.Close()
	for range 3 {
		if _, err := ctl.Write([]byte("x")); err != nil {
			break
		}
	}
	select {
	case <-pipes:
	case <-time.After(5 * time.Second):
		t.Fatal("control: a plain write to a reset connection raised no SIGPIPE; the test proves nothing")
	}
}
