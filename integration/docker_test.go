//go:build linux

package integration

// The Docker tests run pinit as its users do: as the ENTRYPOINT of an image,
// under a real Docker engine, driven through the docker CLI. TestDocker builds
// one image from Dockerfile.test (pinit, the test worker and busybox, all
// static and built on the host: TestMain's binaries) and runs every case
// against it in parallel; its Dockerfile case builds the real Dockerfile the
// way CI here must, with no registry: from a Go image made out of the host's
// own toolchain by testdata/docker/go-image.sh.
//
// Every container and image is named pinit-test-<run>..., labelled pinit.test,
// publishes its ports on loopback only, and is removed when its test ends.
// The tests skip, loudly, only when no Docker engine answers.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dockerEnv is what every case shares: the run's unique prefix and the test image.
type dockerEnv struct {
	run   string // random, in every name this run gives a container or an image
	image string // built from Dockerfile.test
	n     atomic.Int64
}

func TestDocker(t *testing.T) {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(c, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("NO DOCKER ENGINE ANSWERS, THE DOCKER TESTS DID NOT RUN (docker info: %v: %s)", err, bytes.TrimSpace(out))
		if os.Getenv("CI") != "" {
			// CI machines run an engine: a skip there would be a silent pass.
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, "SKIP:", msg)
		t.Skip("SKIP: " + msg)
	}
	b := make([]byte, 4)
	rand.Read(b)
	d := &dockerEnv{run: hex.EncodeToString(b)}
	d.image = d.buildTestImage(t)

	for _, tc := range []struct {
		name string
		test func(*testing.T, *dockerEnv)
	}{
		{"ServesFromEveryWorker", testDockerServes},
		{"StopUnderLoad", testDockerStop},
		{"ReloadUnderLoad", testDockerReload},
		{"Healthcheck", testDockerHealthcheck},
		{"NonRootUser", testDockerUser},
		{"BadVariable", testDockerBadVariable},
		{"ReapsOrphans", testDockerOrphans},
		{"WorkersAutoFollowsCPUQuota", testDockerWorkersAuto},
		{"Dockerfile", testDockerfile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, d)
		})
	}
}

// (1) WORKERS=4 serves on the published port from 4 workers, each with its
// own pid, socket-activation variables that name it, and its slot as WORKER_ID.
func testDockerServes(t *testing.T, d *dockerEnv) {
	c := d.start(t, []string{"-e", "WORKERS=4", "-p", "127.0.0.1::8080", "-p", "127.0.0.1::8081"},
		"testworker", "serve", "--notify")
	up := waitHealth(t, c.addr(8081), "/ready", 200, 30*time.Second, func(r healthReport) bool { return r.allUp(4) })
	seen := waitServers(t, "http://"+c.addr(8080)+"/", 4, 30*time.Second)

	var ids []string
	for pid, h := range seen {
		if h.ListenPID != pid {
			t.Errorf("worker %d has LISTEN_PID=%d, want its own pid", pid, h.ListenPID)
		}
		ids = append(ids, h.WorkerID)
	}
	slices.Sort(ids)
	if want := []string{"0", "1", "2", "3"}; !slices.Equal(ids, want) {
		t.Errorf("WORKER_IDs %v, want %v", ids, want)
	}
	if pids := up.pids(); !sameSet(pids, mapKeys(seen)) {
		t.Errorf("answers came from pids %v, /ready lists %v", mapKeys(seen), pids)
	}
	// Docker's default seccomp profile lets pinit attach its reuseport program.
	if up.Steering != "bpf" {
		t.Errorf(`/ready says "steering":%q in a container, want "bpf"`, up.Steering)
	}
}

// (2) docker stop under continuous load: in-flight requests finish, the
// container exits 0, within the grace.
//
// How the requests are counted. pinit gets SIGTERM from `docker stop`, keeps
// the workers serving for DRAIN_DELAY, then signals them, and each worker
// stops accepting and finishes what it has. The moment the workers were
// signalled is read from the container's log ("got SIGTERM", timestamped by
// Docker). A request that started more than a margin before that moment has
// reached a worker before it was told to stop (a request's time is when it
// was written, which on a loaded machine can be well after it was begun):
// every one of them must succeed, whether it was answered during the drain
// delay or was still in flight (one deliberately slow request is), and none
// was refused or reset. A request that started later may
// find the listeners closed and be refused or reset (through docker-proxy a
// refusal shows as a reset or EOF): that is what a stopping server does, so
// those are only counted and reported, not failed.
func testDockerStop(t *testing.T, d *dockerEnv) {
	const grace = 6 * time.Second
	const margin = 250 * time.Millisecond
	c := d.start(t, []string{"-e", "WORKERS=4", "-e", "DRAIN_DELAY=1s", "-e", "GRACE_TIMEOUT=6s", "-p", "127.0.0.1::8080"},
		"testworker", "serve", "--notify")
	base := "http://" + c.addr(8080)
	c.waitServing(t, base+"/")
	waitServers(t, base+"/", 4, 30*time.Second)
	l := startDockerLoad(base, "/", "/", "/", "/slow?ms=200", "/slow?ms=200")
	l.waitOK(t, 50)

	// One slow request, sent before the stop, is still in flight when the workers are signalled.
	long := make(chan dockerResult, 1)
	wrote := make(chan struct{})
	go func() { long <- dockerGet(base+"/slow?ms=2000", func() { close(wrote) }) }()
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request was not sent within 10s")
	}
	stopAt := time.Now()
	mustDocker(t, "stop", c.name) // Docker's default: SIGTERM, then SIGKILL after 10 s
	took := time.Since(stopAt)
	results := l.halt()
	lr := <-long

	if code := c.inspect("{{.State.ExitCode}}"); code != "0" {
		t.Errorf("container exited %s, want 0 (every worker ended within the grace)", code)
	}
	if took >= grace {
		t.Errorf("docker stop took %s, more than GRACE_TIMEOUT=%s", took, grace)
	}
	workersStopped := c.logTime(t, "got SIGTERM")
	if d := workersStopped.Sub(stopAt); d < 900*time.Millisecond {
		t.Errorf("the workers were signalled %s after docker stop, before DRAIN_DELAY=1s was over", d)
	}
	if lr.err != nil {
		t.Errorf("the request in flight across the stop failed: %v", lr.err)
	} else if !lr.end.After(workersStopped) {
		t.Errorf("the slow request ended at %s, before the workers were signalled at %s: it tested nothing",
			lr.end.Format(time.StampMilli), workersStopped.Format(time.StampMilli))
	}

	var before, beforeFailed, drained, late, lateFailed int
	var firstErrs []string
	for _, r := range results {
		switch {
		case r.sent().Before(workersStopped.Add(-margin)):
			before++
			if r.sent().After(stopAt) && r.err == nil {
				drained++
			}
			if r.err != nil {
				beforeFailed++
				if len(firstErrs) < 10 {
					firstErrs = append(firstErrs, fmt.Sprintf("%s %s: %v", r.sent().Format(time.StampMilli), r.path, r.err))
				}
			}
		default:
			late++
			if r.err != nil {
				lateFailed++
			}
		}
	}
	t.Logf("docker stop took %s; %d requests reached the workers before they were signalled (%d of them during the "+
		"drain delay), %d failed; %d started later: %d answered, %d refused or reset (expected of a stopping server)",
		took.Round(time.Millisecond), before, drained, beforeFailed, late, late-lateFailed, lateFailed)
	if beforeFailed > 0 {
		t.Errorf("%d requests sent before the workers were told to stop failed:\n%s", beforeFailed, strings.Join(firstErrs, "\n"))
	}
	if drained == 0 {
		t.Errorf("no request was answered during the drain delay")
	}
}

// (3) docker kill -s HUP: a rolling reload replaces every worker while
// continuous load sees no failed request.
func testDockerReload(t *testing.T, d *dockerEnv) {
	c := d.start(t, []string{"-e", "WORKERS=4", "-p", "127.0.0.1::8080", "-p", "127.0.0.1::8081"},
		"testworker", "serve", "--notify")
	health := c.addr(8081)
	old := waitHealth(t, health, "/ready", 200, 30*time.Second, func(r healthReport) bool { return r.allUp(4) }).pids()
	// The published port, as users reach it, and the container's own address,
	// without docker-proxy in between (through it, a refused connection shows
	// as an EOF): no request may fail on either.
	ip := c.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
	l := startDockerLoad("http://"+c.addr(8080), "/", "/", "/", "/slow?ms=300", "/slow?ms=300")
	direct := startDockerLoad("http://"+ip+":8080", "/", "/", "/slow?ms=300")
	l.waitOK(t, 50)
	direct.waitOK(t, 50)

	mustDocker(t, "kill", "-s", "HUP", c.name)
	replaced := waitHealth(t, health, "/ready", 200, 30*time.Second, func(r healthReport) bool {
		return r.State == "running" && r.allUp(4) && !slices.ContainsFunc(r.pids(), func(p int) bool { return slices.Contains(old, p) })
	}).pids()
	// Every old worker has exited (it finished its requests first), and traffic goes on.
	eventually(t, 20*time.Second, "every old worker exited", func() bool {
		exited := map[int]bool{}
		for _, l := range parseLogs(c.logs(t), "worker exited") {
			exited[l.num("pid")] = true
		}
		return !slices.ContainsFunc(old, func(p int) bool { return !exited[p] })
	})
	l.waitOK(t, 50)
	results := append(l.halt(), direct.halt()...)

	var failed []string
	byNew := 0
	for _, r := range results {
		switch {
		case r.err != nil:
			failed = append(failed, fmt.Sprintf("%s %s: %v", r.sent().Format(time.StampMilli), r.path, r.err))
		case slices.Contains(replaced, r.pid):
			byNew++
		}
	}
	t.Logf("reload: %d requests, %d failed, %d answered by the new workers; pids %v -> %v", len(results), len(failed), byNew, old, replaced)
	if len(failed) > 0 {
		t.Errorf("%d requests failed during the reload:\n%s", len(failed), strings.Join(failed[:min(len(failed), 10)], "\n"))
	}
	if byNew == 0 {
		t.Errorf("no request was answered by a new worker")
	}
}

// (4) HEALTHCHECK CMD ["/sbin/pinit", "--check"] (in Dockerfile.test, every
// second): healthy while the pool serves, unhealthy once it crash-loops.
func testDockerHealthcheck(t *testing.T, d *dockerEnv) {
	good := d.start(t, []string{"-e", "WORKERS=2"}, "testworker", "serve", "--notify")
	bad := d.start(t, []string{"-e", "WORKERS=2"}, "testworker", "crash")
	health := func(c *dockerContainer) string {
		return c.inspect("{{if .State.Health}}{{.State.Health.Status}}{{end}}")
	}
	eventually(t, 30*time.Second, "the serving pool is healthy", func() bool { return health(good) == "healthy" })
	eventually(t, 30*time.Second, "the crash-looping pool is unhealthy", func() bool { return health(bad) == "unhealthy" })
	if s := health(good); s != "healthy" {
		t.Errorf("the serving pool turned %s", s)
	}
	if out := bad.inspect("{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}"); !strings.Contains(out, "check live") {
		t.Errorf("pinit --check said nothing about /health: %q", out)
	}
}

// (5) --user 65534:65534: pinit and its workers run unprivileged and serve.
func testDockerUser(t *testing.T, d *dockerEnv) {
	c := d.start(t, []string{"--user", "65534:65534", "-e", "WORKERS=2", "-p", "127.0.0.1::8080"},
		"testworker", "serve", "--notify")
	url := "http://" + c.addr(8080) + "/"
	c.waitServing(t, url)
	waitServers(t, url, 2, 30*time.Second)
	if out, err := c.exec("/sbin/pinit", "--check", "ready"); err != nil {
		t.Errorf("pinit --check ready as user 65534: %v\n%s", err, out)
	}
	// pinit (PID 1) and its workers; docker exec's own processes (runc init,
	// the HEALTHCHECK's pinit --check) may show up too, and are not asked about.
	var ours int
	for _, p := range c.ps(t) {
		if p.pid != 1 && !strings.HasPrefix(p.args, "testworker ") {
			continue
		}
		ours++
		if p.user != "65534" {
			t.Errorf("process %d (%s) runs as %s, want 65534", p.pid, p.args, p.user)
		}
	}
	if ours != 3 {
		t.Errorf("want pinit and 2 workers, ps shows %d of them: %v", ours, c.ps(t))
	}
}

// (6) A bad variable: exit 2 before anything starts, and `docker logs` names it.
func testDockerBadVariable(t *testing.T, d *dockerEnv) {
	c := d.start(t, []string{"-e", "WORKERS=zero", "-e", "GRACE_TIMEOUT=soon"}, "testworker", "serve", "--notify")
	if code := c.wait(t, 30*time.Second); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	logs := c.logs(t)
	for _, want := range []string{`WORKERS="zero"`, `GRACE_TIMEOUT="soon"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("docker logs do not name %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "worker started") {
		t.Errorf("a worker was started despite the bad configuration:\n%s", logs)
	}
}

// (7) Orphans are reaped inside the container, in init mode and in pool mode.
// The container's own process list is read with busybox ps (docker exec):
// `docker top` cannot show zombies, since on cgroup v1 an exited process
// leaves the cgroup's task list. The negative control, the same orphan maker
// as PID 1 without pinit, proves that this check does see zombies.
func testDockerOrphans(t *testing.T, d *dockerEnv) {
	initMode := d.start(t, nil, "testworker", "orphans", "5", "--linger", "300ms")
	pool := d.start(t, []string{"-e", "WORKERS=2", "-e", "LISTEN=none"}, "testworker", "orphans", "3", "--linger", "300ms")
	control := d.start(t, []string{"--entrypoint", "/usr/local/bin/testworker"}, "orphans", "3", "--linger", "300ms")

	eventually(t, 20*time.Second, "zombies show in the negative control", func() bool {
		return len(zombies(control.ps(t))) >= 3
	})
	for _, tc := range []struct {
		name string
		c    *dockerContainer
		want int // orphans in all
	}{{"init mode", initMode, 5}, {"pool mode", pool, 6}} {
		var orphans []int
		eventually(t, 20*time.Second, tc.name+": the orphans were made", func() bool {
			orphans = orphans[:0]
			for _, line := range strings.Split(tc.c.logs(t), "\n") {
				if rest, ok := strings.CutPrefix(line, "orphans "); ok {
					for _, f := range strings.Fields(rest) {
						n, _ := strconv.Atoi(f)
						orphans = append(orphans, n)
					}
				}
			}
			return len(orphans) >= tc.want
		})
		var procs []dockerProc
		eventually(t, 20*time.Second, tc.name+": every orphan exited and was reaped", func() bool {
			procs = tc.c.ps(t)
			return !slices.ContainsFunc(procs, func(p dockerProc) bool { return slices.Contains(orphans, p.pid) })
		})
		if z := zombies(procs); len(z) > 0 {
			t.Errorf("%s: zombies in the container: %v", tc.name, z)
		}
	}
}

// (8) WORKERS=auto is the container's CPU quota (docker run --cpus, a cgroup
// v1 or v2 quota) rounded up, and no more than the CPUs it may run on.
func testDockerWorkersAuto(t *testing.T, d *dockerEnv) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--cpus", "2"}, 2},
		{[]string{"--cpus", "1"}, 1},
		{[]string{"--cpus", "1.5"}, 2},
		{[]string{"--cpus", "0.5"}, 1},
		{[]string{"--cpuset-cpus", "0"}, 1},
	} {
		c := d.start(t, append(tc.args, "-e", "WORKERS=auto"), "testworker", "serve", "--notify")
		var started []logLine
		eventually(t, 30*time.Second, fmt.Sprintf("%v: the pool started", tc.args), func() bool {
			started = parseLogs(c.logs(t), "pool started")
			return len(started) > 0
		})
		if got := started[0].num("workers"); got != tc.want {
			t.Errorf("%v: WORKERS=auto started %d workers, want %d", tc.args, got, tc.want)
		}
	}
}

// The real Dockerfile builds here with no registry, from a Go image made of
// the host's toolchain, into an image holding nothing but /sbin/pinit.
func testDockerfile(t *testing.T, d *dockerEnv) {
	if testing.Short() {
		t.Skip("builds the real Dockerfile, which takes a minute or more: skipped with -short")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goImage, final := d.tag("go"), d.tag("pinit")
	version := "test-" + d.run
	// Cleanups run last first: this one after the containers of the image.
	t.Cleanup(func() { removeImageTree(t, goImage) })
	start := time.Now()
	script := exec.CommandContext(ctx(t, 3*time.Minute), "bash", filepath.Join(root, "integration/testdata/docker/go-image.sh"), goImage)
	// A build cache kept between runs, so that the build stage finds the
	// standard library compiled (see go-image.sh): a minute or two saved.
	if dir, err := os.UserCacheDir(); err == nil {
		script.Env = append(os.Environ(), "GOCACHE_SEED="+filepath.Join(dir, "pinit", "go-image-gocache"))
	}
	if out, err := script.CombinedOutput(); err != nil {
		t.Fatalf("go-image.sh: %v\n%s", err, out)
	}
	imported := time.Since(start)
	t.Cleanup(func() { removeImage(t, final) }) // its FROM scratch stage does not descend from goImage
	mustDocker(t, "build", "--network", "none", "--build-arg", "GO_IMAGE="+goImage, "--build-arg", "VERSION="+version, "-t", final, root)
	t.Logf("go-image.sh took %s, docker build %s", imported.Round(time.Millisecond), (time.Since(start) - imported).Round(time.Second))

	if files := imageFiles(t, final); !slices.Equal(files, []string{"sbin/", "sbin/pinit"}) {
		t.Errorf("the image holds %v, want only /sbin/pinit", files)
	}
	if ep := mustDocker(t, "image", "inspect", "--format", "{{json .Config.Entrypoint}}", final); ep != `["/sbin/pinit"]` {
		t.Errorf("ENTRYPOINT %s, want [\"/sbin/pinit\"]", ep)
	}
	// A FROM scratch image runs it, so it is static; as PID 1 it runs itself in init mode.
	for _, cmd := range [][]string{{"--version"}, {"/sbin/pinit", "--version"}} {
		out, code := d.runOnce(t, final, cmd...)
		if code != 0 || !strings.Contains(out, "pinit "+version) {
			t.Errorf("docker run %v: exit %d, %q; want pinit %s", cmd, code, out, version)
		}
	}
}

// ---------------------------------------------------------------------------
// Images and containers.

// buildTestImage builds Dockerfile.test from TestMain's static binaries and
// the host's static busybox, with no network; it takes a few seconds.
func (d *dockerEnv) buildTestImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{"pinit": pinitBin, "testworker": workerBin, "busybox": "/bin/busybox"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("the test image needs %s: %v (busybox comes from Debian's busybox-static, see .ci/deps)", src, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dockerfile, err := filepath.Abs("../Dockerfile.test")
	if err != nil {
		t.Fatal(err)
	}
	tag := d.tag("test")
	t.Cleanup(func() { removeImage(t, tag) })
	mustDocker(t, "build", "--network", "none", "-q", "-f", dockerfile, "-t", tag, dir)
	return tag
}

// tag is a unique image name for this run.
func (d *dockerEnv) tag(what string) string { return "pinit-test:" + d.run + "-" + what }

// name is a unique container name for this test.
func (d *dockerEnv) name(t *testing.T) string {
	return fmt.Sprintf("pinit-test-%s-%s-%d", d.run, strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()), d.n.Add(1))
}

// removeImageTree removes image and every image built on it, newest first.
// The legacy builder keeps each step of a build as an image whose parent is
// the step before; removing the final tag prunes the steps of its own stage
// only, and would leave those of the build stage behind.
func removeImageTree(t *testing.T, image string) {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := dockerCmd(c, "image", "inspect", "--format", "{{.Id}}", image)
	if err != nil {
		if !strings.Contains(err.Error(), "No such image") {
			t.Errorf("remove image: %v", err)
		}
		return
	}
	all, err := dockerCmd(c, "images", "-a", "-q", "--no-trunc")
	if err != nil {
		t.Errorf("remove image: %v", err)
		return
	}
	// Parents by child; an image that vanished meanwhile is only missing from the answer.
	out, _ := dockerCmd(c, append([]string{"image", "inspect", "--format", "{{.Id}} {{.Parent}}"}, strings.Fields(all)...)...)
	children := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if id, parent, ok := strings.Cut(strings.TrimSpace(line), " "); ok && parent != "" {
			children[parent] = append(children[parent], id)
		}
	}
	var walk func(id string)
	walk = func(id string) {
		for _, child := range children[id] {
			walk(child)
		}
		if _, err := dockerCmd(c, "image", "rm", id); err != nil && !strings.Contains(err.Error(), "No such image") {
			t.Errorf("remove image: %v", err)
		}
	}
	walk(strings.TrimSpace(root))
}

func removeImage(t *testing.T, tag string) {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dockerCmd(c, "image", "rm", tag); err != nil && !strings.Contains(err.Error(), "No such image") {
		t.Errorf("remove image: %v", err)
	}
}

// dockerContainer is one container of a test.
type dockerContainer struct {
	t    *testing.T
	name string
}

// start runs the test image detached, with args before the image name and
// cmd after it (LOG_FORMAT=json). The container is removed when the test
// ends, and its log shown if the test failed.
func (d *dockerEnv) start(t *testing.T, args []string, cmd ...string) *dockerContainer {
	t.Helper()
	c := &dockerContainer{t: t, name: d.name(t)}
	argv := append([]string{"run", "-d", "--name", c.name, "--label", "pinit.test=" + d.run, "-e", "LOG_FORMAT=json"}, args...)
	argv = append(append(argv, d.image), cmd...)
	t.Cleanup(c.remove)
	mustDocker(t, argv...)
	return c
}

// runOnce runs image in the foreground and returns its output and exit status.
func (d *dockerEnv) runOnce(t *testing.T, image string, cmd ...string) (string, int) {
	t.Helper()
	c := &dockerContainer{t: t, name: d.name(t)}
	t.Cleanup(c.remove)
	argv := append([]string{"run", "--name", c.name, "--label", "pinit.test=" + d.run, image}, cmd...)
	out, err := exec.CommandContext(ctx(t, time.Minute), "docker", argv...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	return string(out), 0
}

func (c *dockerContainer) remove() {
	cx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c.t.Failed() {
		out, _ := exec.CommandContext(cx, "docker", "logs", "-t", c.name).CombinedOutput()
		c.t.Logf("docker logs %s:\n%s", c.name, out)
	}
	if _, err := dockerCmd(cx, "rm", "-f", "-v", c.name); err != nil && !strings.Contains(err.Error(), "No such container") {
		c.t.Errorf("remove container: %v", err)
	}
}

// addr is the loopback address the container's TCP port is published on.
func (c *dockerContainer) addr(port int) string {
	c.t.Helper()
	out := mustDocker(c.t, "port", c.name, fmt.Sprintf("%d/tcp", port))
	first, _, _ := strings.Cut(out, "\n")
	return first
}

// waitServing waits until a worker answers url. Until the workers are
// started, docker-proxy accepts and then drops the connection; once one
// worker serves, every slot's socket listens and queues what it gets.
func (c *dockerContainer) waitServing(t *testing.T, url string) {
	t.Helper()
	eventually(t, 30*time.Second, "a worker answers "+url, func() bool {
		_, err := getHello(freshClient(), url)
		return err == nil
	})
}

// inspect is `docker inspect --format format`.
func (c *dockerContainer) inspect(format string) string {
	c.t.Helper()
	return mustDocker(c.t, "inspect", "--format", format, c.name)
}

// wait waits for the container to exit and returns its exit status.
func (c *dockerContainer) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	out, err := dockerCmd(ctx(t, timeout), "wait", c.name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("docker wait: %q", out)
	}
	return n
}

// logs is the container's output so far, stdout and stderr together.
func (c *dockerContainer) logs(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(ctx(t, time.Minute), "docker", "logs", c.name).CombinedOutput()
	if err != nil {
		t.Fatalf("docker logs: %v\n%s", err, out)
	}
	return string(out)
}

// logTime is when the container first logged a line holding s, by Docker's
// timestamps (the host's clock).
func (c *dockerContainer) logTime(t *testing.T, s string) time.Time {
	t.Helper()
	out, err := exec.CommandContext(ctx(t, time.Minute), "docker", "logs", "-t", c.name).CombinedOutput()
	if err != nil {
		t.Fatalf("docker logs: %v\n%s", err, out)
	}
	var first time.Time
	for _, line := range strings.Split(string(out), "\n") {
		ts, rest, _ := strings.Cut(line, " ")
		if !strings.Contains(rest, s) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("docker logs -t: %q: %v", line, err)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	if first.IsZero() {
		t.Fatalf("the container never logged %q", s)
	}
	return first
}

// exec runs a command in the container, as its user.
func (c *dockerContainer) exec(cmd ...string) (string, error) {
	out, err := exec.CommandContext(ctx(c.t, time.Minute), "docker", append([]string{"exec", c.name}, cmd...)...).CombinedOutput()
	return string(out), err
}

// dockerProc is one line of the container's process list.
type dockerProc struct {
	pid        int
	user, stat string
	args       string
}

// ps lists the container's processes (busybox ps, in its PID namespace),
// zombies included, without the ps itself.
func (c *dockerContainer) ps(t *testing.T) []dockerProc {
	t.Helper()
	out, err := c.exec("ps", "-o", "pid,user,stat,args")
	if err != nil {
		t.Fatalf("ps in the container: %v\n%s", err, out)
	}
	var procs []dockerProc
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] == "ps" {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		procs = append(procs, dockerProc{pid: pid, user: f[1], stat: f[2], args: strings.Join(f[3:], " ")})
	}
	return procs
}

func zombies(procs []dockerProc) []dockerProc {
	var z []dockerProc
	for _, p := range procs {
		if strings.HasPrefix(p.stat, "Z") {
			z = append(z, p)
		}
	}
	return z
}

// imageFiles lists the files of an image's layers, from `docker save`.
func imageFiles(t *testing.T, image string) []string {
	t.Helper()
	saved, err := exec.CommandContext(ctx(t, time.Minute), "docker", "save", image).Output()
	if err != nil {
		t.Fatalf("docker save: %v", err)
	}
	entries := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(saved))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("docker save: %v", err)
		}
		data, _ := io.ReadAll(tr)
		entries[h.Name] = data
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("docker save: manifest.json: %v: %s", err, entries["manifest.json"])
	}
	var files []string
	for _, layer := range manifest[0].Layers {
		lr := tar.NewReader(bytes.NewReader(entries[layer]))
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("layer %s: %v", layer, err)
			}
			files = append(files, h.Name)
		}
	}
	slices.Sort(files)
	return files
}

// dockerCmd runs the docker CLI and returns its stdout; an error carries its stderr.
func dockerCmd(c context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(c, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// mustDocker runs the docker CLI and returns its trimmed stdout, or fails the test.
func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerCmd(ctx(t, 3*time.Minute), args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// ---------------------------------------------------------------------------
// Load with timestamps.

// dockerResult is one request of a dockerLoad.
type dockerResult struct {
	path              string    // the URL
	start, wrote, end time.Time // wrote: zero if the request was never sent
	pid               int       // the worker that answered
	err               error
}

// sent is when the request went out: when it was written, or, if it never
// was, when it was attempted. (On a loaded machine the two can be far apart,
// and only the first says when a worker could see it.)
func (r dockerResult) sent() time.Time {
	if r.wrote.IsZero() {
		return r.start
	}
	return r.wrote
}

// dockerGet GETs url on a fresh connection; wrote, if not nil, is called once
// the request is written.
func dockerGet(url string, wrote func()) dockerResult {
	r := dockerResult{path: url, start: time.Now()}
	var wroteAt atomic.Int64 // set on the transport's goroutine
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		wroteAt.CompareAndSwap(0, time.Now().UnixNano())
		if wrote != nil {
			once.Do(wrote)
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
	if err != nil {
		r.err = err
		return r
	}
	h, err := doHello(freshClient(), req)
	r.end, r.pid, r.err = time.Now(), h.PID, err
	if ns := wroteAt.Load(); ns != 0 {
		r.wrote = time.Unix(0, ns)
	}
	return r
}

// dockerLoad is one client per path, each GETting base+path in a loop on a
// fresh connection per request (through docker-proxy, a kept-alive
// connection would only reach the proxy), recording when each request
// started and ended.
type dockerLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []dockerResult
}

func startDockerLoad(base string, paths ...string) *dockerLoad {
	l := &dockerLoad{stop: make(chan struct{})}
	for _, path := range paths {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				r := dockerGet(base+path, nil)
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				pause := 5 * time.Millisecond // keeps two cores for the engine and the workers
				if r.err != nil {
					pause = 20 * time.Millisecond
				}
				time.Sleep(pause)
			}
		}()
	}
	return l
}

// waitOK waits until n more requests have succeeded.
func (l *dockerLoad) waitOK(t *testing.T, n int) {
	t.Helper()
	ok := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		k := 0
		for _, r := range l.results {
			if r.err == nil {
				k++
			}
		}
		return k
	}
	want := ok() + n
	eventually(t, 30*time.Second, fmt.Sprintf("%d more requests succeed", n), func() bool { return ok() >= want })
}

// halt stops the load, waits for the requests in flight, and returns every result.
func (l *dockerLoad) halt() []dockerResult {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.results)
}

func mapKeys[V any](m map[int]V) []int {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
