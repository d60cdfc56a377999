package health

import (
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestBoardZeroValue(t *testing.T) {
	var b Board
	got := b.Get()
	want := Status{State: "starting", Live: true, Ready: false}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("zero Board.Get() = %+v, want %+v", got, want)
	}
}

func TestBoardSetGet(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		set  Status
	}{
		{"no workers", Status{State: "running", Live: true, Ready: true}},
		{"crash loop", Status{State: "running", Live: false, Workers: []Worker{{Slot: 0, State: "backoff", Restarts: 7}}}},
		{"two workers", Status{State: "reloading", Live: true, Ready: true, Workers: []Worker{
			{Slot: 0, PID: 10, State: "up", Started: started},
			{Slot: 1, PID: 11, State: "starting", Restarts: 1, Started: started.Add(time.Second)},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Board
			b.Set(tt.set)
			if got := b.Get(); !reflect.DeepEqual(got, tt.set) {
				t.Fatalf("Get() = %+v, want %+v", got, tt.set)
			}
		})
	}
}

// The supervisor may reuse its slice after Set, and a handler may scribble on what Get returned: neither may change
// what the Board holds.
func TestBoardCopiesWorkers(t *testing.T) {
	var b Board
	ws := []Worker{{Slot: 0, PID: 1, State: "up"}}
	b.Set(Status{State: "running", Live: true, Ready: true, Workers: ws})
	ws[0].PID = 99

	got := b.Get()
	if got.Workers[0].PID != 1 {
		t.Fatalf("Set kept the caller's slice: PID = %d, want 1", got.Workers[0].PID)
	}
	got.Workers[0].State = "exited"
	if again := b.Get(); again.Workers[0].State != "up" {
		t.Fatalf("Get shared its slice: State = %q, want up", again.Workers[0].State)
	}
}

// Run with -race. Every snapshot a reader sees must be one a writer published whole: its State names how many
// workers it has and every worker carries the same PID.
func TestBoardConcurrent(t *testing.T) {
	var b Board
	const writers, readers, rounds = 4, 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				n := (w + i) % 5
				ws := make([]Worker, n)
				for j := range ws {
					ws[j] = Worker{Slot: j, PID: w*rounds + i, State: "up"}
				}
				b.Set(Status{State: Phase(strconv.Itoa(n)), Live: true, Ready: n > 0, Workers: ws})
			}
		})
	}
	errs := make(chan string, readers)
	for range readers {
		wg.Go(func() {
			for range rounds {
				s := b.Get()
				if s.State == "starting" {
					continue
				}
				if string(s.State) != strconv.Itoa(len(s.Workers)) || s.Ready != (len(s.Workers) > 0) {
					errs <- "torn snapshot: " + string(s.State)
					return
				}
				for _, wk := range s.Workers {
					if wk.PID != s.Workers[0].PID {
						errs <- "torn workers in snapshot " + string(s.State)
						return
					}
				}
				if len(s.Workers) > 0 {
					s.Workers[0].PID = -1 // readers own what Get returned
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
