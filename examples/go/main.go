// Command go (examples/go) is an example worker for pinit's pool mode, in plain Go with no
// dependency: it serves HTTP on the listening socket pinit passes as fd 3,
// tells pinit it is ready over NOTIFY_SOCKET (sd_notify), and on SIGTERM
// finishes its requests and exits.
//
//	go build -o /tmp/pinit-example-go ./examples/go
//	WORKERS=2 LISTEN=127.0.0.1:8080 go run . /tmp/pinit-example-go
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ln, err := listener()
	if err != nil {
		log.Fatal(err)
	}
	var open atomic.Int64 // connections accepted and not yet closed
	srv := &http.Server{Handler: http.HandlerFunc(hello), ConnState: func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	if err := notify("READY=1"); err != nil {
		log.Printf("sd_notify: %v (pinit counts the worker up after 1 s anyway)", err)
	}
	log.Printf("worker %s pid %d serving on fd 3", os.Getenv("WORKER_ID"), os.Getpid())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-served:
		log.Fatal(err)
	case <-stop:
		// Stop accepting, then answer every connection already accepted
		// (pinit's GRACE_TIMEOUT bounds the wait). Not srv.Shutdown: it
		// closes, unanswered, a connection whose first request it reads only
		// after it began (golang/go#75591), which under load turns a rolling
		// reload into a few failed requests.
		srv.SetKeepAlivesEnabled(false)
		ln.Close()
		<-served
		for open.Load() > 0 {
			time.Sleep(10 * time.Millisecond)
			srv.SetKeepAlivesEnabled(false) // closes the connections that went idle
		}
	}
}

// listener is the socket pinit passes: fd 3, as systemd's socket activation
// describes it (LISTEN_FDS=1, LISTEN_PID=<this process>).
func listener() (net.Listener, error) {
	if os.Getenv("LISTEN_FDS") != "1" || os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, errors.New("no socket on fd 3: run me under pinit with WORKERS set")
	}
	f := os.NewFile(3, "pinit")
	defer f.Close() // FileListener holds a dup of it
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("fd 3: %w", err)
	}
	return ln, nil
}

// notify sends one sd_notify message; "@name" is an abstract socket, which Go's net maps.
func notify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return errors.New("NOTIFY_SOCKET is not set")
	}
	conn, err := net.Dial("unixgram", name)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"worker_id": os.Getenv("WORKER_ID"), "pid": os.Getpid()})
}
