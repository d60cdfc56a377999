// Package health is pinit's own health server: it answers /health (liveness) and /ready (readiness) for the
// container, and it is the client behind `pinit --check`.
//
// # Liveness and readiness
//
// Orchestrators ask a container two different questions and act on the answers differently:
//
//   - Liveness: "is this container still able to do its job at all?" A failing liveness check makes the
//     orchestrator kill and replace the container: a Kubernetes livenessProbe restarts it, an ECS health check
//     marks the task unhealthy and the service replaces it, Docker's HEALTHCHECK marks it "unhealthy" (which a
//     swarm service or an autoheal tool acts on), Cloud Run's liveness probe restarts the instance.
//   - Readiness: "should traffic be sent here right now?" A failing readiness check only takes the container out
//     of load balancing (Kubernetes removes the pod from the Service's endpoints, a load balancer deregisters the
//     target); nothing is restarted, and traffic comes back when the check passes again. This is what must fail
//     while the application starts and from the first moment of a drain, so that the load balancer stops sending
//     new connections before the workers are told to stop.
//
// Confusing the two is costly: a readiness failure reported as a liveness failure turns every drain or slow start
// into a restart loop, and a liveness check that depends on the application's backends restarts healthy
// containers whenever a database blinks.
//
// # What pinit reports
//
// GET /health answers 200 while pinit supervises normally, including while it starts, reloads and drains, and 503
// only when the pool is crash-looping (every worker slot keeps dying on start): then replacing the container is
// the one remedy left. GET /ready answers 200 only when every worker is up (init mode: the child is running), the
// supervisor is not draining or stopping, and READY_URL, if set, answers 2xx within 1 s; otherwise 503. Both answer
// HEAD with the same status and headers and no body. A GET body is a small JSON object:
//
//	{"status":"ok","state":"running","workers":[{"slot":0,"pid":12,"state":"up","restarts":0,"uptime_seconds":12.345}]}
//
// "status" is "ok" or "unavailable"; a failing READY_URL adds "ready_url_error" to /ready. Any other path is
// 404, any other method on /health or /ready is 405 with "Allow: GET, HEAD". Responses carry
// "Cache-Control: no-store" so no proxy answers for pinit.
//
// # Why not net/http
//
// pinit sits in every container, so its size and memory count (a few MB of RSS while it supervises), and net/http
// is the heaviest thing it could import: it brings crypto/tls, crypto/x509, HTTP/2 and their init work. Measured on
// a hello-world with net.Listen and log/slog, importing net/http takes the stripped binary from 2.6 MB to 6.0 MB
// and its RSS from 3.1 MB to 5.9 MB. pinit needs none of it: it answers two paths on a local port and asks one
// local URL. So this package speaks the little HTTP/1.1 it needs over package net itself, and `go list -deps` of
// pinit must show neither net/http nor crypto/tls. Its tests use net/http freely, as clients and as fake
// applications, to hold this code to what net/http's clients and servers expect.
//
// # The server and its limits
//
// Health checks are one-shot, so every answer carries "Connection: close" and the connection is closed after it:
// no keep-alive, no pipelining (a second request on the connection is read and dropped, not answered). Each
// connection is served on its own goroutine:
//
//   - the whole request head (request line and headers) must arrive within 2 s of the connection being accepted,
//     in at most 8 KiB; a client that trickles its headers (slowloris) is dropped at 2 s without an answer, a head
//     that outgrows 8 KiB gets 431 at once;
//   - the request line is "METHOD target HTTP/1.x" (lines end in CRLF or a bare LF); anything else is 400, and 505
//     for another major version (an HTTP/2 preface, HTTP/0.9). Headers are checked for shape and skipped; an
//     HTTP/1.1 request needs exactly one Host, as RFC 9112 says; nothing else is read from them;
//   - the target may be origin-form ("/health?x=1") or absolute-form ("http://host/health"): only its path counts,
//     query removed and percent-decoded, as net/http reads it;
//   - a body (Content-Length, Transfer-Encoding) is never read as such: after the answer the server half-closes and
//     reads and drops what the client still sends, for up to 500 ms, before closing. Closing with unread bytes would
//     make the kernel reset the connection and throw away whatever part of the answer it had not sent yet;
//   - the answer must be written within 2 s;
//   - at most 256 connections are served at once; beyond that, a new connection is closed as soon as it is
//     accepted, so a flood cannot exhaust pinit's memory (each connection costs a goroutine and a buffer of at most
//     8 KiB). A flood can keep the health server busy while it lasts, as it could any server: bind HEALTH_LISTEN to
//     an address only the orchestrator reaches when that matters.
//
// [Server.Close] stops accepting at once, lets answers in flight finish for 500 ms, then closes every connection
// and ends the READY_URL probes still running.
//
// # The clients
//
// [Check] and the READY_URL probe are the same small client: one connection per request, dialled and answered
// within the timeout (2 s for `pinit --check`, 1 s for READY_URL), "GET path?query HTTP/1.1" with Host,
// "User-Agent: pinit" and "Connection: close". No proxy is ever used (HTTP_PROXY is not meant for local traffic) and
// no redirect is followed (a 3xx is a failure). Only http:// URLs are understood; credentials in READY_URL are sent
// as Basic authorization. The status line decides; the body is read (at most 64 KiB) for Check's error message and,
// by the probe, only so that the connection ends cleanly.
//
// # API
//
// The supervisor publishes a [Status] snapshot on a [Board] whenever its state changes; the server reads the latest
// one for each request. [Listen] binds HEALTH_LISTEN and returns a [Server] to [Server.Serve] and [Server.Close];
// Options.ReadyURL sets the probe. [Check] is `pinit --check [live|ready]`: it GETs /health or /ready from the local
// server, turning an unspecified listen host into loopback.
package health
