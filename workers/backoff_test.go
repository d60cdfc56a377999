package workers

import (
	"testing"
	"time"
)

func TestBackoffSequence(t *testing.T) {
	ms := time.Millisecond
	var b backoff
	want := []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := b.delay(time.Second); got != w {
			t.Fatalf("death %d: delay %v, want %v", i+1, got, w)
		}
	}
	// A worker that ran 10 s resets the sequence: replaced at once again.
	if got := b.delay(backoffReset); got != 0 {
		t.Fatalf("after a 10s run: delay %v, want 0", got)
	}
	if got := b.delay(0); got != 100*ms {
		t.Fatalf("next quick death: delay %v, want 100ms", got)
	}
}
