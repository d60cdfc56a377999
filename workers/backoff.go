package workers

import "time"

// Restart backoff of a slot whose worker keeps dying: 0.1 s, doubling to
// 10 s; a worker that ran backoffReset resets it. One exception: a worker
// that was up (serving) and dies after a reset is replaced at once, as
// Gunicorn does, so that a worker killed by the OOM killer or a stray kill -9
// is back within milliseconds; a worker that dies before it is up always waits.
const (
	backoffFirst = 100 * time.Millisecond
	backoffMax   = 10 * time.Second
	backoffReset = 10 * time.Second
)

// backoff is one slot's restart delay.
type backoff struct{ next time.Duration }

// delay returns how long to wait before restarting a worker that ran for
// uptime and was (or was not) up, and advances the sequence.
func (b *backoff) delay(uptime time.Duration, up bool) time.Duration {
	if uptime >= backoffReset {
		b.next = 0
	}
	d := b.next
	if d == 0 && !up {
		d = backoffFirst
	}
	if d == 0 {
		b.next = backoffFirst
	} else {
		b.next = min(2*d, backoffMax)
	}
	return d
}
