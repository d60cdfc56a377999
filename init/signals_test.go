//go:build linux

package pid1

import (
	"os/signal"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIgnored(t *testing.T) {
	if ignored(unix.SIGUSR2) {
		t.Fatal("ignored(SIGUSR2) = true before anything ignored it")
	}
	signal.Ignore(unix.SIGUSR2)
	defer signal.Reset(unix.SIGUSR2)
	if !ignored(unix.SIGUSR2) {
		t.Error("ignored(SIGUSR2) = false once signal.Ignore set SIG_IGN")
	}
}
