package integration

// Pool mode and the machine's limits, black box: which process the OOM
// killer prefers, signals that reach workers before they can take them, the
// cap on SIGTTIN, and a container without /proc.

import (
	"testing"
	"time"
)

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
