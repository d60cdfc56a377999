package health

import (
	"runtime"
	"strconv"
	"strings"
	"time"
)

// metricsContentType is the Prometheus text exposition format, version 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// metrics renders st in the Prometheus text format. usage, if set, is read
// now, for the pids st lists: /proc at scrape time, not at publish time.
func renderMetrics(st Status, ready bool, version string, usage func([]int) map[int]Usage, now time.Time) []byte {
	var m expo
	m.family("pinit_build_info", "gauge", "Always 1; the labels say which pinit runs.")
	m.sample("pinit_build_info", []string{"version", version, "goversion", runtime.Version()}, 1)
	m.family("pinit_ready", "gauge", "1 when /ready answers 200.")
	m.sample("pinit_ready", nil, bool01(ready))
	m.family("pinit_live", "gauge", "1 when /health answers 200.")
	m.sample("pinit_live", nil, bool01(st.Live))

	m.family("pinit_workers", "gauge", "Worker slots by state.")
	counts := map[WorkerState]int{}
	for _, w := range st.Workers {
		counts[w.State]++
	}
	for _, s := range []WorkerState{WorkerStarting, WorkerUp, WorkerStalled, WorkerStopping, WorkerBackoff, WorkerExited} {
		m.sample("pinit_workers", []string{"state", string(s)}, float64(counts[s]))
	}
	m.family("pinit_workers_desired", "gauge", "How many workers the pool should have.")
	m.sample("pinit_workers_desired", nil, float64(max(st.Desired, len(st.Workers))))
	m.family("pinit_reloads_total", "counter", "SIGHUP reloads begun.")
	m.sample("pinit_reloads_total", nil, float64(st.Reloads))
	m.family("pinit_drain_duration_seconds", "gauge", "How long the drain has taken (the last one, once over); 0 before any.")
	m.sample("pinit_drain_duration_seconds", nil, drainSeconds(st, now))

	m.workerFamilies(st, usage)
	return m.b
}

func (m *expo) workerFamilies(st Status, usage func([]int) map[int]Usage) {
	var pids []int
	for _, w := range st.Workers {
		if w.PID > 0 {
			pids = append(pids, w.PID)
		}
	}
	var use map[int]Usage
	if usage != nil && len(pids) > 0 {
		use = usage(pids)
	}
	slot := func(w Worker, more ...string) []string {
		return append([]string{"slot", strconv.Itoa(w.Slot)}, more...)
	}

	m.family("pinit_worker_restarts_total", "counter", "Workers started in the slot after one exited while pinit was not stopping it.")
	for _, w := range st.Workers {
		m.sample("pinit_worker_restarts_total", slot(w), float64(w.Restarts))
	}
	m.family("pinit_worker_recycles_total", "counter", "Workers of the slot replaced on purpose while they ran, by reason.")
	for _, w := range st.Workers {
		r := w.Recycles
		for _, c := range []struct {
			reason string
			n      int
		}{{"memory", r.Memory}, {"lifetime", r.Lifetime}, {"timeout", r.Timeout}, {"reload", r.Reload}} {
			m.sample("pinit_worker_recycles_total", slot(w, "reason", c.reason), float64(c.n))
		}
	}
	m.family("pinit_slot_accept_queue", "gauge", "Connections waiting in the slot's accept queue (TCP_INFO), at the last sample.")
	for _, w := range st.Workers {
		m.sample("pinit_slot_accept_queue", slot(w), float64(w.Queue))
	}
	m.family("pinit_worker_start_time_seconds", "gauge", "When the slot's worker started, in seconds since the epoch.")
	for _, w := range st.Workers {
		if w.PID > 0 && !w.Started.IsZero() {
			m.sample("pinit_worker_start_time_seconds", slot(w), float64(w.Started.UnixMilli())/1000)
		}
	}
	m.family("pinit_worker_resident_memory_bytes", "gauge", "Resident memory of the slot's worker and its descendants.")
	for _, w := range st.Workers {
		if u, ok := use[w.PID]; ok {
			m.sample("pinit_worker_resident_memory_bytes", slot(w), float64(u.RSS))
		}
	}
	m.family("pinit_worker_cpu_seconds_total", "counter", "CPU time of the slot's worker and its descendants, user and system.")
	for _, w := range st.Workers {
		if u, ok := use[w.PID]; ok {
			m.sample("pinit_worker_cpu_seconds_total", slot(w), u.CPU)
		}
	}
}

func drainSeconds(st Status, now time.Time) float64 {
	switch {
	case st.DrainStarted.IsZero():
		return 0
	case !st.DrainEnded.IsZero():
		now = st.DrainEnded
	}
	return now.Sub(st.DrainStarted).Seconds()
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// expo writes the text exposition format: a HELP and TYPE line per family,
// then its samples, label values escaped.
type expo struct{ b []byte }

func (m *expo) family(name, typ, help string) {
	m.b = append(m.b, "# HELP "...)
	m.b = append(m.b, name...)
	m.b = append(m.b, ' ')
	m.b = append(m.b, help...)
	m.b = append(m.b, "\n# TYPE "...)
	m.b = append(m.b, name...)
	m.b = append(m.b, ' ')
	m.b = append(m.b, typ...)
	m.b = append(m.b, '\n')
}

// sample writes one line; labels are name, value pairs.
func (m *expo) sample(name string, labels []string, v float64) {
	m.b = append(m.b, name...)
	if len(labels) > 0 {
		m.b = append(m.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				m.b = append(m.b, ',')
			}
			m.b = append(m.b, labels[i]...)
			m.b = append(m.b, `="`...)
			m.b = append(m.b, labelEscaper.Replace(labels[i+1])...)
			m.b = append(m.b, '"')
		}
		m.b = append(m.b, '}')
	}
	m.b = append(m.b, ' ')
	m.b = strconv.AppendFloat(m.b, v, 'g', -1, 64)
	m.b = append(m.b, '\n')
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
