// Package workers is pinit's pool mode: what Gunicorn's arbiter does, for any
// language, from a static PID 1.
//
// # Linux behaviour it deals with
//
// SO_REUSEPORT lets several sockets bind the same address and port (all
// opened by the same user). For TCP the kernel then spreads incoming
// connections across the listening sockets by a hash of the connection's
// addresses, so each socket has its own accept queue and no two workers fight
// over one (no thundering herd, no accept lock). pinit binds LISTEN once per
// worker slot before it starts anything, so a bind failure stops it with
// nothing running.
//
// A listening socket lives as long as any process holds a descriptor for it.
// pinit keeps every slot's socket open for the slot's whole life and hands it
// to each worker of that slot as fd 3, the systemd socket-activation way
// (LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES). When a worker dies, its socket
// stays open in pinit: connections the kernel assigned to that slot wait in
// its accept queue and are served by the replacement, not reset. A reload
// starts the new worker on the same socket, and only once it is up tells the
// old one to stop. When the pool stops, pinit closes its copies as it tells
// the workers to stop, so that new connections are refused, not queued for
// nobody, once the workers close theirs.
//
// Every descriptor pinit opens is close-on-exec; a worker inherits exactly
// fds 0, 1 and 2 (pinit's own, so worker output is not copied) and its slot's
// socket. LISTEN_PID must name the worker's own pid, which exists only after
// the fork, and Go runs no code between fork and exec, so a worker is started
// as pinit itself (the exec stub, see IsExecStub), which sets LISTEN_PID (and
// WATCHDOG_PID, the same pid, for sd_notify's watchdog), raises its own
// oom_score_adj above pinit's so that the OOM killer takes a worker rather
// than PID 1, and execs the command in the same process.
//
// Each worker runs in its own process group; stopping or killing a worker
// signals the whole group, so whatever it started goes with it.
//
// A worker is up when it sends READY=1 on NOTIFY_SOCKET (sd_notify, the sender
// known by SO_PASSCRED credentials), or after 1 s of running if it never sends
// anything there.
//
// # Steering
//
// The slot sockets bound to LISTEN form one reuseport group: an array of
// sockets in the kernel. A socket takes the next index when it listens; when
// one leaves (its last descriptor closed, or at once on shutdown(SHUT_RD),
// whatever dups a worker still holds) the socket at the last index moves
// into its place, and a shutdown resets the connections queued on it.
// Without a program the kernel picks socks[hash(addresses) % num_socks],
// whatever the socket's worker is doing. pinit attaches a classic BPF program
// to the group (SO_ATTACH_REUSEPORT_CBPF, unprivileged) that returns an index
// instead: it takes the packet's flow hash (a random number where the hash is
// 0) modulo the number of fit slots and maps the remainder to one of their
// indices, which group keeps in step with the kernel's. An index past the end
// is no error: the kernel falls back to its own hash over every socket,
// steered-away ones included, so the program never returns one. The program
// belongs to the group, not to the socket it was attached through, and lives
// until the group's last socket leaves. Where the kernel refuses it (EPERM,
// ENOPROTOOPT, EINVAL, ENOMEM, as in gVisor or under seccomp) the pool runs
// on the kernel's hashing.
//
// TCP_INFO on a listening socket reports its accept queue: tcpi_unacked is
// the number of connections waiting for accept(), tcpi_sacked the backlog
// (the Recv-Q and Send-Q of `ss -lt`). A queue that holds connections nobody
// takes is how a hung worker shows, without its help: the pool samples every
// queue, steers away from a suspect slot at once (so that a worker that
// accepts can empty it with nothing new arriving), calls it stalled when it
// still has not, and kills its worker after WORKER_TIMEOUT (stall.go).
//
// # Supervision
//
// A Pool is owned by the one goroutine that calls Run. Signals, exits
// collected by pid1.Reap on SIGCHLD, sd_notify messages and timers reach it as
// events; after each, reconcile moves the pool towards what it should be at
// that moment, steers, and publishes a snapshot on a health.Board. Time,
// process starting, signalling, binding, steering and queue reading are func
// fields, so the state machine is unit-tested on a fake clock, driven through
// the same handle and nextDeadline that Run uses.
package workers
