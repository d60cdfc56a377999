// Package health is pinit's own health server: it answers /health (liveness) and /ready (readiness) for the
// container, and it is the client behind `pinit --check`.
//
// # Liveness and readiness
//
// Orchestrators ask a container two different questions and act on the answers differently. Liveness: "can this
// container still do its job at all?" A failure makes the orchestrator kill and replace it (a Kubernetes
// livenessProbe, an ECS health check, Docker's HEALTHCHECK for swarm or autoheal). Readiness: "should traffic be
// sent here right now?" A failure only takes the container out of load balancing until the check passes again;
// nothing is restarted. Readiness is what must fail while the application starts and from the first moment of a
// drain, so that the load balancer stops sending new connections before the workers are told to stop. Confusing
// the two turns every drain or slow start into a restart loop.
//
// So /health fails (503) only when the pool is crash-looping, the one case replacing the container can cure, and
// /ready is 200 only when the supervisor says every worker is up, it is not draining or stopping, and READY_URL,
// if set, answers 2xx within 1 s. The supervisor decides; it publishes a [Status] on a [Board] whenever its state
// changes, and the server renders the latest one for each request.
//
// # Why not net/http
//
// pinit sits in every container, and net/http is the heaviest thing it could import: it brings crypto/tls,
// crypto/x509 and HTTP/2. Measured on a hello-world with net.Listen and log/slog, it takes the stripped binary from
// 2.6 MB to 6.0 MB and the RSS from 3.1 MB to 5.9 MB. pinit answers two paths on a local port and asks one local
// URL, so this package speaks the little HTTP/1.1 it needs over package net, and .ci/run fails if pinit links
// net/http or crypto/tls. The tests use net/http freely, to hold this code to what its clients and servers expect.
//
// # Limits
//
// One request per connection ("Connection: close"), each connection on its own goroutine, so a slow client holds
// only itself up. A connection has 2 s from being accepted to send its request head, of at most 8 KiB (a larger
// one gets 431; one that is late gets no answer), and the answer must be written within 2 s. After the answer the
// server half-closes and reads and drops what the client still sends, for up to 500 ms and 256 KiB, so that unread
// bytes do not make the kernel reset the connection before the answer is through.
//
// At most 256 connections are open at once. When a new one arrives at the cap, the oldest connection still sending
// its head is closed to make room: a flood of slow clients cannot lock out a health check, whose head arrives at
// once. Only when every open connection has sent its head and is being answered is the new one refused (closed at
// once). A warning is logged the first time either happens. A flood can keep the server busy while it lasts:
// bind HEALTH_LISTEN to an address only the orchestrator reaches when that matters.
//
// [Server.Close] stops accepting at once, lets answers in flight finish for 500 ms, then closes every connection
// and ends the READY_URL probes still running. [Check] (`pinit --check`, 2 s) and the READY_URL probe (1 s) are
// one small client: one connection per request, no proxy, no redirect followed.
package health
