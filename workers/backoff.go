package workers

import "time"

// Restart backoff of a slot whose worker keeps dying: the first death after a
// healthy run is restarted at once (a worker killed by the OOM killer or a
// stray kill -9 should be replaced within milliseconds, as Gunicorn does),
// then 0.1 s, doubling to 10 s. A worker that ran backoffReset resets it.
const (
	backoffFirst = 100 * time.Millisecond
	backoffMax   = 10 * time.Second
	backoffReset = 10 * time.Second
)

// backoff is one slot's restart delay.
type backoff struct{ next time.Duration }

// delay returns how long to wait before restarting a worker that ran for
// uptime, and advances the sequence 0, 0.1 s, 0.2 s, 0.4 s ... 10 s.
func (b *backoff) delay(uptime time.Duration) time.Duration {
	if uptime >= backoffReset {
		b.next = 0
	}
	d := b.next
	switch {
	case b.next == 0:
		b.next = backoffFirst
	default:
		b.next = min(2*b.next, backoffMax)
	}
	return d
}
