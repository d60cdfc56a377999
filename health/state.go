package health

// Phase is what a supervisor as a whole is doing: the "state" of /health and
// /ready. Init mode and the pool share this one vocabulary.
type Phase string

const (
	PhaseStarting  Phase = "starting"  // workers are starting; not every one is up yet
	PhaseRunning   Phase = "running"   // serving normally
	PhaseReloading Phase = "reloading" // a rolling restart (SIGHUP) is under way
	PhaseDraining  Phase = "draining"  // a stop began: /ready is 503, workers still serve until DRAIN_DELAY ends
	PhaseStopping  Phase = "stopping"  // workers have been told to stop
	PhaseExited    Phase = "exited"    // init mode: the child is gone, pinit is exiting
)

// Stopping reports whether the phase belongs to the end of pinit's life:
// nothing is ready from the first moment of a drain on.
func (p Phase) Stopping() bool {
	return p == PhaseDraining || p == PhaseStopping || p == PhaseExited
}

// WorkerState is what one supervised process (or its empty slot) is doing.
type WorkerState string

const (
	WorkerStarting WorkerState = "starting" // running, not up yet (no READY=1, not running 1 s)
	WorkerUp       WorkerState = "up"       // serving
	WorkerStalled  WorkerState = "stalled"  // up, but its slot's accept queue is not being taken
	WorkerStopping WorkerState = "stopping" // told to stop (drain, reload, scale down)
	WorkerBackoff  WorkerState = "backoff"  // the slot is empty, waiting to restart its worker
	WorkerExited   WorkerState = "exited"   // the process is gone and will not be restarted
)
