package integration

// /metrics from outside: the Prometheus project's own parser, promtool, and
// a real Prometheus server scraping pinit; and the recycling that the
// metrics count, under load.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics and parses it with the Prometheus parser.
func scrape(t *testing.T, healthAddr string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + healthAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// metric is the value of the sample of name with the given labels (pairs),
// and whether there is one.
func metric(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
next:
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		if m.Gauge != nil {
			return m.Gauge.GetValue(), true
		}
		return m.Counter.GetValue(), true
	}
	return 0, false
}

func TestMetricsPoolMode(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), nil)
	waitPoolUp(t, p.healthAddr, 2)
	fams, body := scrape(t, p.healthAddr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pinit_ready", nil, 1},
		{"pinit_live", nil, 1},
		{"pinit_workers", []string{"state", "up"}, 2},
		{"pinit_workers_desired", nil, 2},
		{"pinit_worker_restarts_total", []string{"slot", "1"}, 0},
		{"pinit_build_info", nil, 1},
	} {
		if got, ok := metric(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	for _, slot := range []string{"0", "1"} {
		if rss, ok := metric(fams, "pinit_worker_resident_memory_bytes", "slot", slot); !ok || rss < 1<<20 {
			t.Errorf("slot %s resident memory %v (%v), want a worker's few MiB", slot, rss, ok)
		}
		if _, ok := metric(fams, "pinit_worker_cpu_seconds_total", "slot", slot); !ok {
			t.Errorf("no cpu seconds for slot %s", slot)
		}
	}
	promtool := exec.Command("promtool", "check", "metrics")
	promtool.Stdin = bytes.NewReader(body)
	if out, err := promtool.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, body)
	}

	// kill -9 of slot 1's worker: its restarts, and only its, go up by one.
	kill(t, p.workerHostPID(t, 1), 9)
	waitPoolUp(t, p.healthAddr, 2)
	eventually(t, 10*time.Second, "slot 1's restart is counted", func() bool {
		fams, _ := scrape(t, p.healthAddr)
		one, _ := metric(fams, "pinit_worker_restarts_total", "slot", "1")
		zero, _ := metric(fams, "pinit_worker_restarts_total", "slot", "0")
		if zero != 0 || one > 1 {
			t.Fatalf("restarts slot 0 = %v, slot 1 = %v: want 0 and 1", zero, one)
		}
		return one == 1
	})
}

func TestMetricsInitMode(t *testing.T) {
	t.Parallel()
	h := addr(t)
	p := start(t, opts{env: map[string]string{"HEALTH_LISTEN": h}, pidns: true}, workerBin, "signals")
	p.waitStdout("ready", 10*time.Second)
	fams, _ := scrape(t, h)
	if v, ok := metric(fams, "pinit_workers", "state", "up"); !ok || v != 1 {
		t.Errorf("pinit_workers{state=up} = %v, want 1", v)
	}
	if v, ok := metric(fams, "pinit_worker_resident_memory_bytes", "slot", "0"); !ok || v <= 0 {
		t.Errorf("the child's memory = %v (%v)", v, ok)
	}
}

// A real Prometheus scrapes pinit and shows the pool through its query API.
func TestMetricsScrapedByPrometheus(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), nil)
	waitPoolUp(t, p.healthAddr, 2)
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pinit\n    static_configs:\n      - targets: ['%s']\n", p.healthAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	web := addr(t)
	prom := exec.Command("prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	var out buffer
	prom.Stdout, prom.Stderr = &out, &out
	if err := prom.Start(); err != nil {
		t.Fatalf("start prometheus (installed by .ci/deps): %v", err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", out.String())
		}
	})
	query := func(q string) (int, []float64) {
		resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil {
			return 0, nil
		}
		var vals []float64
		for _, s := range r.Data.Result {
			v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
			vals = append(vals, v)
		}
		return len(r.Data.Result), vals
	}
	eventually(t, 60*time.Second, `Prometheus has pinit_workers{state="up"} == 2`, func() bool {
		n, v := query(`pinit_workers{state="up"}`)
		return n == 1 && v[0] == 2
	})
	if n, _ := query(`pinit_worker_resident_memory_bytes`); n != 2 {
		t.Errorf("Prometheus has %d pinit_worker_resident_memory_bytes series, want one per slot", n)
	}
	if n, v := query(`up{job="pinit"}`); n != 1 || v[0] != 1 {
		t.Errorf("up = %v", v)
	}
}

// Workers that leak 25 MB/s under MAX_WORKER_MEMORY=150MiB are recycled,
// each slot in turn, under load, with no failed request.
func TestRecycleLeakingWorkers(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve", "--leak", "25000000"), map[string]string{"MAX_WORKER_MEMORY": "150MiB"})
	waitPoolUp(t, p.healthAddr, 2)
	l := startLoad(t, p.url, 4, 2)
	eventually(t, 60*time.Second, "both slots recycled for memory", func() bool {
		fams, _ := scrape(t, p.healthAddr)
		a, _ := metric(fams, "pinit_worker_recycles_total", "slot", "0", "reason", "memory")
		b, _ := metric(fams, "pinit_worker_recycles_total", "slot", "1", "reason", "memory")
		return a >= 1 && b >= 1
	})
	l.waitMore(t, 100, 30*time.Second)
	l.halt()
	l.check(t, nil)
	for _, line := range p.logs("worker over MAX_WORKER_MEMORY: recycling") {
		if line.num("rss") <= 150<<20 {
			t.Errorf("recycled at %d bytes, under the limit", line.num("rss"))
		}
	}
	fams, _ := scrape(t, p.healthAddr)
	if r, _ := metric(fams, "pinit_worker_restarts_total", "slot", "0"); r != 0 {
		t.Errorf("a recycle counted as a restart: %v", r)
	}
}

// MAX_WORKER_LIFETIME=3s: every worker replaced within 9 s, one slot at a
// time, under load, with no failed request.
func TestRecycleByLifetime(t *testing.T) {
	t.Parallel()
	p := startPool(t, testWorker("serve"), map[string]string{"MAX_WORKER_LIFETIME": "3s", "MAX_WORKER_LIFETIME_JITTER": "1s"})
	first := waitPoolUp(t, p.healthAddr, 2).pids()
	l := startLoad(t, p.url, 4, 2)
	upAt := time.Now()
	rep := waitHealth(t, p.healthAddr, "/ready", 200, 30*time.Second, func(r healthReport) bool {
		return r.allUp(2) && r.Workers[0].PID != first[0] && r.Workers[1].PID != first[1]
	})
	if d := time.Since(upAt); d > 9*time.Second {
		t.Errorf("every worker replaced after %s, want within 9 s", d)
	}
	t.Logf("replaced %v by %v", first, rep.pids())
	l.waitMore(t, 100, 30*time.Second)
	l.halt()
	l.check(t, nil)
	// One at a time: the second replacement starts once the first is up.
	lines := p.logs("worker reached MAX_WORKER_LIFETIME: recycling")
	starts := p.logs("worker started")
	if len(lines) < 2 || len(starts) < 4 {
		t.Fatalf("%d recycles, %d starts", len(lines), len(starts))
	}
	if gap := starts[3].time().Sub(starts[2].time()); gap < 500*time.Millisecond {
		t.Errorf("replacements started %s apart: want one slot at a time (the next once the first is up)", gap)
	}
}
