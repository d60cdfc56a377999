package health

import (
	"context"
	"sync"
	"time"
)

// probeCache is how long the verdict of a READY_URL probe answers /ready without asking again: a load balancer,
// the orchestrator and a monitoring system polling /ready together, or a flood of requests, cost READY_URL one
// request a second at most.
const probeCache = time.Second

// sharedProbe runs the READY_URL probe for every /ready request: at most one probe is in flight at a time, and its
// verdict answers every /ready request for probeCache after it. Once that has passed, the next request starts a new
// probe; while it runs, requests get the previous verdict at once (it is at most probeCache+probeTimeout old), so
// that a slow READY_URL makes no request wait but those that come when there is no recent verdict at all (the first
// ones, or the first after a long time not ready). So the application behind READY_URL never sees more than one
// request from pinit at a time, and a READY_URL that never answers costs one connection and one goroutine, however
// many clients ask /ready.
type sharedProbe struct {
	run  func(context.Context) error // one probe; its context ends after probeTimeout
	base context.Context             // the server's: ends the probe in flight when the server closes
	now  func() time.Time

	mu   sync.Mutex
	cur  *probeCall // in flight; nil when none
	last *probeCall // the latest that ended; nil before the first
	wg   sync.WaitGroup
}

// probeCall is one probe: done is closed once err and ended are set.
type probeCall struct {
	done  chan struct{}
	err   error
	ended time.Time
}

// check returns the verdict of READY_URL: the last one if it is fresh; else, starting a probe unless one is in
// flight, the last one if it is recent, or that of the probe in flight. A ctx that ends first (the connection was
// evicted, the server is closing) returns its error.
func (p *sharedProbe) check(ctx context.Context) error {
	p.mu.Lock()
	var age time.Duration = -1
	if p.last != nil {
		age = p.now().Sub(p.last.ended)
	}
	if age >= 0 && age < probeCache {
		defer p.mu.Unlock()
		return p.last.err
	}
	c := p.cur
	if c == nil {
		c = &probeCall{done: make(chan struct{})}
		p.cur = c
		p.wg.Go(func() { p.probe(c) })
	}
	if age >= 0 && age < probeCache+probeTimeout {
		defer p.mu.Unlock()
		return p.last.err
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probe runs c, with no more than probeTimeout, and publishes its verdict.
func (p *sharedProbe) probe(c *probeCall) {
	ctx, cancel := context.WithTimeout(p.base, probeTimeout)
	err := p.run(ctx)
	cancel()
	p.mu.Lock()
	c.err, c.ended = err, p.now()
	p.cur, p.last = nil, c
	p.mu.Unlock()
	close(c.done)
}

// wait returns once no probe is in flight any more.
func (p *sharedProbe) wait() {
	if p != nil {
		p.wg.Wait()
	}
}
