package health

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics reads an exposition with the Prometheus project's own parser.
func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects the exposition: %v\n%s", err, body)
	}
	return fams
}

// value is the sample of family name whose labels include want (name, value pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("no sample %s%v", name, want)
	return 0
}

func TestMetrics(t *testing.T) {
	started := fixedNow().Add(-90 * time.Second)
	st := Status{State: PhaseRunning, Live: true, Ready: false, Steering: "bpf", Desired: 3, Reloads: 2,
		Workers: []Worker{
			{Slot: 0, PID: 12, State: WorkerUp, Restarts: 4, Queue: 7, Started: started, Recycles: Recycles{Memory: 2, Reload: 1}},
			{Slot: 1, PID: 13, State: WorkerStalled, Started: started},
			{Slot: 2, State: WorkerBackoff, Restarts: 9},
		}}
	h := newHandler(boardWith(st), nil, fixedNow)
	h.version = `v1.2.3 "x"`
	h.usage = func(pids []int) map[int]Usage {
		return map[int]Usage{12: {RSS: 150 << 20, CPU: 1.5}, 13: {RSS: 1 << 20, CPU: 0.25}}
	}
	rec := serve(t, h, http.MethodGet, "/metrics")
	if rec.Code != 200 || rec.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics = %d %q", rec.Code, rec.Header.Get("Content-Type"))
	}
	fams := parseMetrics(t, rec.Body)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pinit_build_info", []string{"version", `v1.2.3 "x"`}, 1},
		{"pinit_ready", nil, 0},
		{"pinit_live", nil, 1},
		{"pinit_workers", []string{"state", "up"}, 1},
		{"pinit_workers", []string{"state", "stalled"}, 1},
		{"pinit_workers", []string{"state", "backoff"}, 1},
		{"pinit_workers", []string{"state", "stopping"}, 0},
		{"pinit_workers_desired", nil, 3},
		{"pinit_reloads_total", nil, 2},
		{"pinit_drain_duration_seconds", nil, 0},
		{"pinit_worker_restarts_total", []string{"slot", "2"}, 9},
		{"pinit_worker_recycles_total", []string{"slot", "0", "reason", "memory"}, 2},
		{"pinit_worker_recycles_total", []string{"slot", "0", "reason", "reload"}, 1},
		{"pinit_worker_recycles_total", []string{"slot", "1", "reason", "lifetime"}, 0},
		{"pinit_slot_accept_queue", []string{"slot", "0"}, 7},
		{"pinit_worker_resident_memory_bytes", []string{"slot", "0"}, 150 << 20},
		{"pinit_worker_cpu_seconds_total", []string{"slot", "1"}, 0.25},
		{"pinit_worker_start_time_seconds", []string{"slot", "0"}, float64(started.Unix())},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if strings.Contains(string(rec.Body), `pinit_worker_resident_memory_bytes{slot="2"}`) {
		t.Error("memory of an empty slot")
	}
	if fams["pinit_worker_cpu_seconds_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("cpu seconds is not a counter")
	}
}

func TestMetricsDrainDuration(t *testing.T) {
	begun := fixedNow().Add(-1500 * time.Millisecond)
	h := newHandler(boardWith(Status{State: PhaseDraining, DrainStarted: begun}), nil, fixedNow)
	if got := value(t, parseMetrics(t, serve(t, h, http.MethodGet, "/metrics").Body), "pinit_drain_duration_seconds"); got != 1.5 {
		t.Fatalf("drain so far = %v, want 1.5", got)
	}
}
