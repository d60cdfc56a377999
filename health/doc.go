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
// At most 256 connections are open at once. When all are taken, the server evicts one that holds its place
// without use: first one already answered whose client has not closed it (the answer is on its way, closing costs
// the client nothing), then one that has not sent its head within 250 ms, then a /ready waiting for READY_URL.
// Connections just accepted or being answered are left alone; new ones then wait in the kernel's accept queue and
// are taken in the order they came. So clients that never send, never read or never close cannot lock a health
// check out, and clients that are only too many are served in turn, the health check among them. A warning is
// logged once per flood.
//
// READY_URL is asked by one probe at a time, whose verdict every /ready request shares and which answers /ready
// for 1 s after it; then the next /ready starts a new probe and, while it runs, gets the previous verdict at once.
// Only a /ready with no verdict younger than 2 s waits for the probe (at most its 1 s). /health and /metrics never
// wait for it. A READY_URL that never answers costs one connection a second or two, however many ask /ready.
//
// Memory: each connection has one goroutine and a 512-byte buffer. After a flood the Go runtime keeps the memory it
// grew into for minutes; so once the server has been idle for 1 s after 64 connections open at once, or after
// 1000 connections, it calls debug.FreeOSMemory (one garbage collection, about a millisecond for pinit's heap) and
// the kernel gets the memory back.
//
// [Server.Close] stops accepting at once, lets answers in flight finish for 500 ms, then closes every connection
// and ends the READY_URL probes still running. [Check] (`pinit --check`, 2 s) and the READY_URL probe (1 s) are
// one small client: one connection per request, no proxy, no redirect followed.
package health
