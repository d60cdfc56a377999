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
// The server protects itself from slow clients: every connection is served on its own goroutine with bounded
// header, read, write and idle times and a small header limit, so a client that sends half a request and stalls
// delays nobody else and is dropped after a couple of seconds.
//
// # API
//
// The supervisor publishes a [Status] snapshot on a [Board] whenever its state changes; the HTTP handlers read
// the latest one. [Handler] is the http.Handler, [Listen] binds HEALTH_LISTEN and returns a [Server] to [Server.Serve]
// and [Server.Close]. [ProbeURL] builds the READY_URL probe, and [Check] is `pinit --check [live|ready]`: it GETs
// /health or /ready from the local server, turning an unspecified listen host into loopback.
package health
