package integration

// The health port under abuse, black box: clients that send a whole request
// and never read, a READY_URL that never answers under a flood of /ready
// requests, and pinit's memory once such a flood is over.

import (
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// floodClients is how many clients each flood below runs: more than the
// health server's 256 connections.
const floodClients = 300

// maxAnon is what pinit's anonymous resident memory (RssAnon: its heap,
// stacks and the Go runtime's own) must come back to once a flood is over.
// VmRSS adds the file-backed pages of the binary, 3.4-3.5 MB whether it is
// stripped or not (nearly the whole file: the kernel maps 64 KiB around each
// page fault); it is logged, not checked, because what the Go runtime keeps
// after a flood (its threads, goroutine structures, span metadata) varies
// with the machine's load by several hundred kB. Before a flood, a probed
// pinit has about 1.2 MB of RssAnon; after one, without giving memory back,
// 6-14 MB for minutes.
const maxAnon = 4 << 20

// memory is what /proc/<pid>/status says of a process's resident memory, in bytes.
type memory struct{ rss, anon, file int }

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %d kB (RssAnon %d kB, RssFile %d kB)", m.rss>>10, m.anon>>10, m.file>>10)
}

func residentMemory(t *testing.T, pid int) memory {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			m.rss = n << 10
		case "RssAnon:":
			m.anon = n << 10
		case "RssFile:":
			m.file = n << 10
		}
	}
	return m
}

// promptProbes GETs /health n times, one after the other, while a flood runs:
// each must be answered 200 within limit. It returns the slowest.
func promptProbes(t *testing.T, addr string, n int, limit time.Duration) time.Duration {
	t.Helper()
	var took []time.Duration
	var failed []string
	for range n {
		begin := time.Now()
		code, _, err := rawHealth(addr, "/health", limit)
		d := time.Since(begin)
		if err != nil || code != 200 {
			failed = append(failed, fmt.Sprintf("%d %v after %v", code, err, d.Round(time.Millisecond)))
			continue
		}
		took = append(took, d)
		time.Sleep(20 * time.Millisecond) // a prober's pace, not a flood of our own
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d /health probes failed during the flood:\n%s", len(failed), n, strings.Join(failed, "\n"))
	}
	if len(took) == 0 {
		return 0
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("/health during the flood: %d answered, median %v, slowest %v", len(took), took[len(took)/2], took[len(took)-1])
	return took[len(took)-1]
}

// rawHealth sends one GET for path on a new connection and reads the answer
// to its end, all within limit; the status code of its first line.
func rawHealth(addr, path string, limit time.Duration) (int, string, error) {
	c, err := net.DialTimeout("tcp", addr, limit)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(limit))
	if err := rawRequest(c, path); err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return 0, string(b), err
	}
	var proto string
	var code int
	if _, err := fmt.Sscanf(string(b), "%s %d", &proto, &code); err != nil {
		return 0, string(b), fmt.Errorf("no status line in %q", b)
	}
	return code, string(b), nil
}

// flood runs n clients, each doing one until stop, and returns a func that
// stops them and waits for them to end, and a count of their connections.
func flood(n int, one func(stop <-chan struct{})) (halt func(), conns *atomic.Int64) {
	stop := make(chan struct{})
	conns = new(atomic.Int64)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				one(stop)
				conns.Add(1)
			}
		})
	}
	var once sync.Once
	return func() { once.Do(func() { close(stop); wg.Wait() }) }, conns
}

// waitMemoryBack waits until pinit's anonymous resident memory is at most
// maxAnon, at most 30 s after the flood ended.
func waitMemoryBack(t *testing.T, pid int, before memory) {
	t.Helper()
	end := time.Now()
	var m memory
	defer func() {
		t.Logf("memory: %v before the flood, %v %v after it", before, m, time.Since(end).Round(time.Second))
	}()
	eventually(t, 30*time.Second, fmt.Sprintf("pinit's RssAnon is at most %d kB again", maxAnon>>10), func() bool {
		m = residentMemory(t, pid)
		return m.anon <= maxAnon
	})
}

// Clients that send a whole request and never read it, 300 at a time,
// reconnecting every second: a health check is still answered at once.
// Their connections used to be kept for the half second of the linger and
// never evicted, and locked out a third of the probes.
func TestHealthHoldersDoNotLockOut(t *testing.T) {
	t.Parallel()
	ha := addr(t)
	p := start(t, opts{env: map[string]string{"HEALTH_LISTEN": ha}, pidns: true}, workerBin, "sleep", "600s")
	waitHealth(t, ha, "/ready", 200, 30*time.Second, nil)
	promptProbes(t, ha, 10, 5*time.Second) // the steady state of a probed pinit
	pid := p.pid()
	before := residentMemory(t, pid)

	halt, conns := flood(floodClients, func(stop <-chan struct{}) {
		c, err := net.Dial("tcp", ha)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			return
		}
		defer c.Close()
		if rawRequest(c, "/health") != nil {
			return
		}
		select { // hold it, never read
		case <-stop:
		case <-time.After(time.Second):
		}
	})
	defer halt()
	eventually(t, 30*time.Second, "every holder has connected", func() bool { return conns.Load() >= floodClients })
	promptProbes(t, ha, 40, 2*time.Second)
	halt()
	t.Logf("%d connections held", conns.Load())
	waitMemoryBack(t, pid, before)
}

// A READY_URL that accepts connections and never answers, and 300 clients
// asking /ready in a loop: /health is still answered at once, /ready says
// 503 naming READY_URL, and READY_URL sees one probe at a time, not one per
// request.
func TestHealthBlackHoleReadyURL(t *testing.T) {
	t.Parallel()
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		hole.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	probes := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}

	ha := addr(t)
	p := start(t, opts{env: map[string]string{"HEALTH_LISTEN": ha, "READY_URL": "http://" + hole.Addr().String() + "/ready"}, pidns: true},
		workerBin, "sleep", "600s")
	waitHealth(t, ha, "/health", 200, 30*time.Second, nil)
	promptProbes(t, ha, 10, 5*time.Second)
	pid := p.pid()
	before := residentMemory(t, pid)

	var ready503 atomic.Int64
	halt, conns := flood(floodClients, func(<-chan struct{}) {
		switch code, body, _ := rawHealth(ha, "/ready", 5*time.Second); {
		case code == 503 && strings.Contains(body, "ready_url_error"):
			ready503.Add(1)
		case code == 0:
			time.Sleep(10 * time.Millisecond) // dropped: connect again, not in a hot loop
		}
	})
	defer halt()
	begin, asked := time.Now(), probes()
	eventually(t, 30*time.Second, "the /ready clients are under way", func() bool { return conns.Load() >= floodClients })
	promptProbes(t, ha, 40, 2*time.Second)
	halt()
	took := time.Since(begin)
	// One probe in flight at a time (1 s, the probe's timeout) and its
	// verdict kept 1 s: about one connection every 2 s. Without sharing,
	// every /ready request opened its own.
	n := probes() - asked
	t.Logf("%d /ready requests in %v, %d answered 503 naming READY_URL, %d connections to READY_URL",
		conns.Load(), took.Round(time.Millisecond), ready503.Load(), n)
	if limit := int(took/time.Second) + 2; n > limit {
		t.Errorf("READY_URL got %d connections in %v, want at most %d: one probe at a time", n, took.Round(time.Millisecond), limit)
	}
	if ready503.Load() == 0 {
		t.Errorf("no /ready request was answered 503 with ready_url_error")
	}
	waitMemoryBack(t, pid, before)
}
