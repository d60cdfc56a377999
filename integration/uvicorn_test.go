package integration

// Pool mode with a real ASGI server: uvicorn serving a small FastAPI app
// (testdata/fastapp) on the socket pinit hands it as fd 3 (uvicorn --fd 3),
// the way a user runs it. Debian's python3, uvicorn and fastapi are used
// (.ci/deps installs them); the machine's default python3 may be another one.

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// python is Debian's python3, the one with uvicorn and fastapi.
const python = "/usr/bin/python3"

// uvicorn is the command that serves testdata/fastapp on fd 3.
func uvicorn(t *testing.T) command {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import uvicorn, fastapi").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import uvicorn and fastapi (run .ci/deps): %v\n%s", python, err, out)
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "fastapp"))
	if err != nil {
		t.Fatal(err)
	}
	return command{
		argv: []string{python, "-m", "uvicorn", "--fd", "3", "--app-dir", dir, "--no-access-log", "app:app"},
		env:  map[string]string{"PYTHONDONTWRITEBYTECODE": "1"},
	}
}

func TestUvicornServesEverySlot(t *testing.T) {
	t.Parallel()
	testServesEverySlot(t, uvicorn(t), 2)
}

func TestUvicornRestartsKilledWorker(t *testing.T) {
	t.Parallel()
	testRestartsKilledWorker(t, uvicorn(t))
}

func TestUvicornQueuedConnectionSurvivesRestart(t *testing.T) {
	t.Parallel()
	testQueuedConnectionSurvivesRestart(t, uvicorn(t))
}

func TestUvicornReloadUnderLoad(t *testing.T) {
	t.Parallel()
	testReloadUnderLoad(t, uvicorn(t))
}

func TestUvicornDrainWaitsForSlowRequests(t *testing.T) {
	t.Parallel()
	testDrainWaitsForSlowRequests(t, uvicorn(t))
}
