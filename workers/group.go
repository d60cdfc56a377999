//go:build linux

package workers

// group is pinit's copy of a reuseport group's socket array: which socket sits
// at which index, the numbers a steering program returns. K names a socket
// (a slot id, say).
//
// The kernel (net/core/sock_reuseport.c) keeps the sockets of a group in an
// array of num_socks entries:
//
//   - listen() appends: the first socket to listen creates the group at
//     index 0, each later one takes index num_socks (reuseport_add_sock).
//     listen() again on a socket already listening changes nothing.
//   - A socket leaves when it stops listening: when its last descriptor is
//     closed, or at once on shutdown(SHUT_RD or SHUT_RDWR), whatever other
//     descriptors (a worker's fd 3, dups) still refer to it; the connections
//     in its accept queue are reset. shutdown(SHUT_WR) leaves it listening. The socket at the last index then moves into the
//     freed index, and num_socks shrinks by one (__reuseport_detach_sock).
//     Every other socket keeps its index.
//   - A shut-down socket may listen() again: it is appended like a new one.
//     (Not one bound to port 0: shutting it down gives its port back, and
//     listen() then binds another.)
//
// With net.ipv4.tcp_migrate_req=1 a leaving socket moves to a "closed"
// section at the far end of the array, so that its queued connections can
// migrate, but the listening part of the array changes exactly the same way.
// The group, and the program attached to it, live until its last socket
// leaves; a socket that listens after that starts a new group without one.
//
// The move happens at the leave, under whatever program is attached. To never
// steer a connection by stale indices: first attach a program that targets
// neither the leaving socket nor the last one, then let the socket leave,
// then attach the program for the new indices.
type group[K comparable] struct {
	socks []K
	pos   map[K]int
}

// join records that k listened: it takes the next index. A k already in the
// group keeps its place.
func (g *group[K]) join(k K) int {
	if i, ok := g.pos[k]; ok {
		return i
	}
	if g.pos == nil {
		g.pos = make(map[K]int)
	}
	g.pos[k] = len(g.socks)
	g.socks = append(g.socks, k)
	return len(g.socks) - 1
}

// leave records that k stopped listening: the last socket moves into k's
// index. It reports whether k was in the group.
func (g *group[K]) leave(k K) bool {
	i, ok := g.pos[k]
	if !ok {
		return false
	}
	delete(g.pos, k)
	last := len(g.socks) - 1
	if i != last {
		g.socks[i] = g.socks[last]
		g.pos[g.socks[i]] = i
	}
	var zero K
	g.socks[last] = zero
	g.socks = g.socks[:last]
	return true
}

// index returns k's index in the group, and whether it is in the group.
func (g *group[K]) index(k K) (int, bool) {
	i, ok := g.pos[k]
	return i, ok
}

// size returns how many sockets the group has, num_socks.
func (g *group[K]) size() int { return len(g.socks) }

// indices returns the indices of those of keys that are in the group, in the
// order given: the targets of a steering program.
func (g *group[K]) indices(keys []K) []int {
	var out []int
	for _, k := range keys {
		if i, ok := g.pos[k]; ok {
			out = append(out, i)
		}
	}
	return out
}
