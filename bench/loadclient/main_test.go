package main

import (
	"fmt"
	"testing"
	"time"
)

func TestCountWindow(t *testing.T) {
	from := time.Unix(100, 0)
	ns := func(ms int) int64 { return from.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	line := func(startMS, tookMS int, kind, outcome string, conn, pid int) string {
		return fmtLine(ns(startMS), int64(tookMS)*1000, kind, outcome, conn, pid)
	}
	lines := line(-500, 10, "fresh", "ok", 1, 11) + // before the window, pid 11 is old
		line(-500, 10, "fresh", "ok", 1, 12) +
		line(-100, 300, "fresh", "reset_eof", 1, 0) + // in flight at from: counted
		line(-100, 50, "fresh", "ok", 1, 11) + // ended before from: not counted
		line(100, 1500, "fresh", "ok", 1, 12) + // slow
		line(200, 2, "fresh", "refused", 0, 0) +
		line(300, 3000, "fresh", "timeout", 1, 0) +
		line(400, 3000, "fresh", "timeout", 0, 0) +
		line(1200, 20, "fresh", "ok", 1, 13) + // a new pid, answered at 1220 ms
		line(900, 400, "fresh", "ok", 1, 14) + // a new pid, answered at 1300 ms
		line(1500, 20, "keepalive", "ok", 1, 15) + // another kind
		line(5000, 20, "fresh", "ok", 1, 13) // after the window
	w, err := countWindow(lines, from, 5*time.Second, time.Second, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	want := windowCounts{requests: 7, ok: 3, slow: 1, failed: 4, refused: 1, connectTimeout: 1,
		acceptedReset: 1, acceptedTimeout: 1, maxTook: 3 * time.Second, newPID: 13, newPIDAt: 1220 * time.Millisecond}
	if w != want {
		t.Errorf("got  %s\nwant %s", w, want)
	}
	if _, err := countWindow("1 2 fresh\n", from, time.Second, time.Second, "fresh"); err == nil {
		t.Error("a short line: no error")
	}
}

func TestBodyPID(t *testing.T) {
	for body, want := range map[string]int{`{"pid":42}`: 42, `{"message":"hello"}`: 0, ``: 0, `oops`: 0} {
		if got := bodyPID([]byte(body)); got != want {
			t.Errorf("bodyPID(%q) = %d, want %d", body, got, want)
		}
	}
}

func fmtLine(startNS, tookUS int64, kind, outcome string, conn, pid int) string {
	return fmt.Sprintf("%d %d %s %s %d %d\n", startNS, tookUS, kind, outcome, conn, pid)
}
