package integration

// Pool mode and the machine's limits, black box: which process the OOM
// killer prefers, signals that reach workers before they can take them, the
// cap on SIGTTIN, and a container without /proc.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oomScoreAdj is /proc/<pid>/oom_score_adj.
func oomScoreAdj(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Every worker, with a socket or without, has an oom_score_adj 1000 above
// pinit's, at most 1000: when the container runs out of memory, the kernel
// kills a worker (pinit replaces it) rather than PID 1 (the container goes).
// Below 0 (pinit's own lowered, 1000 more is less than 1000) is unit-tested:
// lowering needs a privilege tests do not have.
func TestPoolWorkersOOMScoreAbovePinit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		pinit int // pinit's own oom_score_adj, raised before it starts (lowering it needs CAP_SYS_RESOURCE); 0: as inherited
		env   map[string]string
		want  func(pinit int) int
	}{
		{"with a socket", 0, nil, func(p int) int { return min(p+1000, 1000) }},
		{"LISTEN=none", 0, map[string]string{"LISTEN": "none"}, func(p int) int { return min(p+1000, 1000) }},
		{"pinit raised", 300, nil, func(int) int { return 1000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var wrap []string
			if tc.pinit != 0 {
				wrap = []string{"sh", "-c", fmt.Sprintf(`echo %d > /proc/self/oom_score_adj && exec "$@"`, tc.pinit), "sh"}
			}
			cmd := testWorker("serve")
			if tc.env["LISTEN"] == "none" {
				cmd = testWorker("sleep", "600s")
			}
			p := startPoolWrapped(t, wrap, cmd, tc.env)
			rep := waitPoolUp(t, p.healthAddr, 2)
			own := oomScoreAdj(t, p.pid())
			if tc.pinit != 0 && own != tc.pinit {
				t.Fatalf("pinit's oom_score_adj is %d, want %d as set", own, tc.pinit)
			}
			for _, w := range rep.Workers {
				host := p.hostPID(w.PID)
				if got, want := oomScoreAdj(t, host), tc.want(own); got != want {
					t.Errorf("worker %d (slot %d): oom_score_adj %d, want %d (pinit's is %d)", host, w.Slot, got, want, own)
				}
			}
		})
	}
}

// With /proc not mounted, the workers still start: pinit re-runs itself by
// the path it was started by. It used to exec /proc/self/exe for every
// worker, which failed, again and again, forever.
func TestPoolWithoutProc(t *testing.T) {
	t.Parallel()
	// unshare --mount-proc gave pinit a mount namespace of its own: take
	// /proc away there (the new one and the host's under it).
	noProc := []string{"sh", "-c", `while mountpoint -q /proc; do umount -l /proc || exit 99; done; test ! -e /proc/self/exe && exec "$@"`, "sh"}
	p := startPoolWrapped(t, noProc, testWorker("serve"), nil)
	rep := waitHealth(t, p.healthAddr, "/ready", 200, 30*time.Second, func(r healthReport) bool { return r.allUp(2) })
	seen := waitServers(t, p.url, 2, 30*time.Second)
	for _, h := range seen {
		if h.ListenPID != h.PID {
			t.Errorf("worker %d got LISTEN_PID=%d", h.PID, h.ListenPID)
		}
	}
	if errs := p.logs("start worker"); len(errs) > 0 {
		t.Errorf("workers failed to start: %v", errs)
	}
	t.Logf("workers up without /proc: %v", rep.pids())
}
