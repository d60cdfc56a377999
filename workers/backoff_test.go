package workers

import (
	"testing"
	"time"
)

func TestBackoffSequence(t *testing.T) {
	ms := time.Millisecond
	// A worker that dies on start, again and again: 0.1 s doubling to 10 s.
	var b backoff
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := b.delay(50*ms, false); got != w {
			t.Fatalf("death %d: delay %v, want %v", i+1, got, w)
		}
	}
	// A worker that ran 10 s resets the sequence; one that was up is replaced at once.
	if got := b.delay(backoffReset, true); got != 0 {
		t.Fatalf("after a 10s run: delay %v, want 0", got)
	}
	if got := b.delay(0, false); got != 100*ms {
		t.Fatalf("next quick death: delay %v, want 100ms", got)
	}
	if got := b.delay(2*time.Second, true); got != 200*ms {
		t.Fatalf("an up worker dying again within 10s: delay %v, want 200ms", got)
	}
	// A fresh slot whose first worker was up: at once.
	var fresh backoff
	if got := fresh.delay(3*time.Second, true); got != 0 {
		t.Fatalf("first death of an up worker: delay %v, want 0", got)
	}
	// A worker that ran 10 s but never said READY=1 still waits.
	if got := fresh.delay(backoffReset, false); got != 100*ms {
		t.Fatalf("after a 10s run without being up: delay %v, want 100ms", got)
	}
}
