package health

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// report is the JSON body of /health and /ready.
type report struct {
	Status        string         `json:"status"` // "ok" or "unavailable"
	State         string         `json:"state"`
	Steering      string         `json:"steering,omitempty"`
	Workers       []workerReport `json:"workers"`
	ReadyURLError string         `json:"ready_url_error,omitempty"`
}

type workerReport struct {
	Slot          int     `json:"slot"`
	PID           int     `json:"pid"`
	State         string  `json:"state"`
	Restarts      int     `json:"restarts"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	AcceptQueue   int     `json:"accept_queue"`
}

// handler decides the answer to a request from the latest Status on its Board.
type handler struct {
	board  *Board
	probes *sharedProbe     // the READY_URL probe, shared by the requests; nil when READY_URL is unset
	now    func() time.Time // time.Now, or a fixed clock in tests

	version string                    // pinit's, for pinit_build_info
	usage   func([]int) map[int]Usage // /proc of the workers at scrape time; nil: no such series
}

// newHandler serves board (a zero Board when nil); probe may be nil; now nil means time.Now. The probes run in
// context.Background() until the server gives them its own context.
func newHandler(board *Board, probe func(context.Context) error, now func() time.Time) *handler {
	if board == nil {
		board = new(Board)
	}
	if now == nil {
		now = time.Now
	}
	h := &handler{board: board, now: now}
	if probe != nil {
		h.probes = &sharedProbe{run: probe, base: context.Background(), now: now}
	}
	return h
}

// waitsForProbe reports whether a request for path may wait for READY_URL: only /ready does, and only with one.
func (h *handler) waitsForProbe(path string) bool { return path == "/ready" && h.probes != nil }

// reply is one answer of the server; appendTo renders it.
type reply struct {
	code        int
	contentType string
	allow       string // the Allow header of a 405
	body        []byte
}

// textReply is a short plain-text answer: errors, 404, 405.
func textReply(code int, body string) reply {
	return reply{code: code, contentType: "text/plain; charset=utf-8", body: []byte(body)}
}

// errorReply is the answer to a request the server cannot read: 400, 431, 505.
func errorReply(code int) reply {
	return textReply(code, strconv.Itoa(code)+" "+statusText(code)+"\n")
}

// serve answers method and path (the request target's path, query removed). The READY_URL verdict is asked only
// for /ready when the board says Ready (see sharedProbe); /health and /metrics never wait for it. ctx ends the wait.
func (h *handler) serve(ctx context.Context, method, path string) reply {
	if path != "/health" && path != "/ready" && path != "/metrics" {
		return textReply(404, "404 page not found\n")
	}
	if method != "GET" && method != "HEAD" {
		r := textReply(405, "405 method not allowed\n")
		r.allow = "GET, HEAD"
		return r
	}

	st := h.board.Get()
	if path == "/metrics" {
		body := renderMetrics(st, st.Ready, h.version, h.usage, h.now())
		return reply{code: 200, contentType: metricsContentType, body: body}
	}
	var ok bool
	var probeErr error
	if path == "/health" {
		ok = st.Live
	} else {
		ok = st.Ready // the supervisor's decision
		if ok && h.probes != nil {
			probeErr = h.probes.check(ctx)
			ok = probeErr == nil
		}
	}

	rep := report{Status: "ok", State: string(st.State), Steering: st.Steering, Workers: make([]workerReport, 0, len(st.Workers))}
	code := 200
	if !ok {
		rep.Status, code = "unavailable", 503
	}
	if probeErr != nil {
		rep.ReadyURLError = probeErr.Error()
	}
	t := h.now()
	for _, wk := range st.Workers {
		rep.Workers = append(rep.Workers, workerReport{
			Slot:          wk.Slot,
			PID:           wk.PID,
			State:         string(wk.State),
			Restarts:      wk.Restarts,
			UptimeSeconds: uptime(wk.Started, t),
			AcceptQueue:   wk.Queue,
		})
	}
	body, err := json.Marshal(rep)
	if err != nil { // cannot happen: the report holds only strings and numbers
		return textReply(500, err.Error()+"\n")
	}
	return reply{code: code, contentType: "application/json", body: append(body, '\n')}
}

// uptime is the time since started in seconds, rounded to milliseconds; 0 when nothing runs or the clock went back.
func uptime(started, now time.Time) float64 {
	if started.IsZero() || !now.After(started) {
		return 0
	}
	return math.Round(now.Sub(started).Seconds()*1000) / 1000
}

// dateFormat is the HTTP date (RFC 9110 §5.6.7), net/http's TimeFormat.
const dateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// appendTo renders r after b as a whole response in proto ("HTTP/1.1" or "HTTP/1.0") that closes the connection.
// A HEAD answer has exactly GET's headers, Content-Length included, and no body.
func (r reply) appendTo(b []byte, proto string, head bool, date time.Time) []byte {
	b = append(b, proto...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.code), 10)
	b = append(b, ' ')
	b = append(b, statusText(r.code)...)
	b = append(b, "\r\n"...)
	if r.allow != "" {
		b = append(b, "Allow: "...)
		b = append(b, r.allow...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(r.body)), 10)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, r.contentType...)
	b = append(b, "\r\nDate: "...)
	b = date.UTC().AppendFormat(b, dateFormat)
	b = append(b, "\r\n\r\n"...)
	if !head {
		b = append(b, r.body...)
	}
	return b
}

// statusText is the reason phrase of every code the server sends.
func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status " + strconv.Itoa(code)
}
