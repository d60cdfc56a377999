//go:build linux

package workers

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// groupOrder lists g's keys by index.
func groupOrder[K comparable](g *group[K]) []K {
	out := make([]K, g.size())
	for i := range out {
		out[i] = g.socks[i]
	}
	return out
}

func TestGroupModel(t *testing.T) {
	for _, tc := range []struct {
		ops  string // +k joins k, -k leaves k
		want string // the keys by index
	}{
		{"+a +b +c", "abc"},
		{"+a +b +c -a", "cb"},     // the last moves into the freed index
		{"+a +b +c -c", "ab"},     // the last leaving moves nothing
		{"+a +b +c -b +b", "acb"}, // back at the end
		{"+a +b +a", "ab"},        // listen() again: no change
		{"+a -b", "a"},            // not in the group: no change
		{"+a -a", ""},
		{"+a -a +b", "b"},
		{"+a +b +c +d +e -b -a +f +b", "dec" + "fb"},
	} {
		var g group[string]
		for op := range strings.FieldsSeq(tc.ops) {
			k := op[1:]
			if op[0] == '+' {
				g.join(k)
			} else {
				g.leave(k)
			}
		}
		if got := strings.Join(groupOrder(&g), ""); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.ops, got, tc.want)
		}
		for i, k := range groupOrder(&g) {
			if j, ok := g.index(k); !ok || j != i {
				t.Errorf("%s: index(%s) = %d, %v; want %d", tc.ops, k, j, ok, i)
			}
		}
	}
}

func TestGroupReturns(t *testing.T) {
	var g group[int]
	if i := g.join(7); i != 0 {
		t.Errorf("first join: index %d", i)
	}
	if i := g.join(3); i != 1 {
		t.Errorf("second join: index %d", i)
	}
	if i := g.join(7); i != 0 {
		t.Errorf("join again: index %d, want its own 0", i)
	}
	if _, ok := g.index(5); ok {
		t.Error("index of a key never joined")
	}
	if !g.leave(7) || g.leave(7) {
		t.Error("leave reports wrongly whether the key was in the group")
	}
	g.join(9)
	if got := g.indices([]int{9, 7, 3}); !slices.Equal(got, []int{1, 0}) {
		t.Errorf("indices = %v, want [1 0]", got)
	}
}

// kernelGroup is a real reuseport group beside its model: each key's socket
// and the descriptor the test holds for it.
type kernelGroup struct {
	t     *testing.T
	tg    *testGroup
	model group[string]
	fds   map[string]int // keys in the model, and descriptors of left ones
}

func (k *kernelGroup) bind(key string) {
	k.fds[key] = k.tg.bind()
	k.model.join(key)
}

// check proves the model right: a program returning the model's index for a
// socket sends every new connection to that very socket's accept queue.
func (k *kernelGroup) check(step string) {
	k.t.Helper()
	keys := groupOrder(&k.model)
	fds := make([]int, len(keys))
	for i, key := range keys {
		fds[i] = k.fds[key]
	}
	for i, key := range keys {
		attachTargets(k.t, fds[0], i)
		counts := k.tg.spread(fds, 3)
		if counts[i] != 3 {
			k.t.Fatalf("after %s, model %v: `ret #%d` sent connections to %v, want all 3 to %s",
				step, keys, i, counts, key)
		}
	}
}

// TestGroupMatchesTheKernel runs joins and leaves of every kind on a real
// group, and after each checks the model's index of every socket against
// where the kernel sends a connection for that index.
func TestGroupMatchesTheKernel(t *testing.T) {
	tg, _ := newTestGroup(t, "127.0.0.1", 0)
	k := &kernelGroup{t: t, tg: tg, fds: map[string]int{}}
	for _, key := range []string{"a", "b", "c", "d", "e"} {
		k.bind(key)
	}
	k.check("five joins")

	// shutdown(SHUT_RD) takes b out at once, though a dup (a worker's fd 3)
	// still refers to it.
	dupB, err := unix.Dup(k.fds["b"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(dupB) })
	must(t, unix.Shutdown(k.fds["b"], unix.SHUT_RD))
	k.model.leave("b")
	if _, err := acceptQueue(dupB); err == nil {
		t.Error("the dup of a shut-down socket still listens")
	}
	k.check("shutdown(b, SHUT_RD)")

	// Closing a socket's only descriptor takes it out.
	must(t, unix.Close(k.fds["a"]))
	k.model.leave("a")
	k.check("close(a)")

	// Closing one of two descriptors leaves the socket in; so does SHUT_WR.
	dupC, err := unix.Dup(k.fds["c"])
	if err != nil {
		t.Fatal(err)
	}
	must(t, unix.Close(k.fds["c"]))
	k.fds["c"] = dupC
	t.Cleanup(func() { unix.Close(dupC) })
	must(t, unix.Shutdown(k.fds["e"], unix.SHUT_WR))
	k.check("close(c) with a dup open, shutdown(e, SHUT_WR)")

	// A new socket, and the shut-down one listening again, join at the end;
	// listen() on a socket still listening changes nothing.
	k.bind("f")
	must(t, unix.Listen(dupB, listenBacklog))
	k.fds["b"] = dupB
	k.model.join("b")
	must(t, unix.Listen(k.fds["d"], listenBacklog))
	k.model.join("d")
	k.check("bind(f), listen(b) again, listen(d) again")
	if got := strings.Join(groupOrder(&k.model), ""); got != "decfb" {
		t.Errorf("model %q, want %q", got, "decfb")
	}
}

// TestGroupOutOfRange: an index past the group's last falls back to the
// kernel's hash over every socket.
func TestGroupOutOfRange(t *testing.T) {
	g, fds := newTestGroup(t, "127.0.0.1", 3)
	attachTargets(t, fds[0], len(fds))
	counts := g.spread(fds, 60)
	t.Logf("`ret #3` in a group of 3: %v", counts)
	if slices.Contains(counts, 60) {
		t.Errorf("every connection went to one socket (%v), want the kernel's spread", counts)
	}
}
