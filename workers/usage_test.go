//go:build linux

package workers

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func TestTreeUsage(t *testing.T) {
	// A shell with a child of its own: the test's tree holds both.
	cmd := exec.Command("sh", "-c", `sleep 60 & echo started; wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		exec.Command("pkill", "-P", strconv.Itoa(cmd.Process.Pid)).Run()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	buf := make([]byte, 8)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); { // CPU time to see
	}
	self := TreeUsage([]int{os.Getpid(), cmd.Process.Pid, 1 << 30})
	if _, ok := self[1<<30]; ok {
		t.Error("a pid that does not exist has a usage")
	}
	me, ok := self[os.Getpid()]
	if !ok || me.RSS <= 0 || me.CPU <= 0 {
		t.Fatalf("usage of the test process = %+v, %v", me, ok)
	}
	if sh := self[cmd.Process.Pid]; sh.RSS <= 0 || me.RSS < sh.RSS {
		t.Errorf("the shell's tree (%d bytes) is part of the test's tree (%d bytes)", sh.RSS, me.RSS)
	}
}
