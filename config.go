package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"golang.org/x/sys/unix"

	"github.com/pinit/pinit/workers"
)

// rawConfig is the environment as read, before validation. Every variable
// pinit reads is here, with its default. Values are read without the white
// space around them, and one that is then empty counts as unset (see
// configEnv).
type rawConfig struct {
	Workers       string `env:"WORKERS"`
	Listen        string `env:"LISTEN"`
	Port          string `env:"PORT"`
	HealthListen  string `env:"HEALTH_LISTEN"` // default defaultHealthListen, set by loadConfig
	GraceTimeout  string `env:"GRACE_TIMEOUT" envDefault:"9s"`
	DrainDelay    string `env:"DRAIN_DELAY" envDefault:"0s"`
	WorkerTimeout string `env:"WORKER_TIMEOUT" envDefault:"30s"`
	StopSignal    string `env:"STOP_SIGNAL" envDefault:"SIGTERM"`
	ReadyURL      string `env:"READY_URL"`
	LogFormat     string `env:"LOG_FORMAT" envDefault:"auto"`
	LogLevel      string `env:"LOG_LEVEL" envDefault:"info"`

	MaxWorkerMemory         string `env:"MAX_WORKER_MEMORY"`
	MaxWorkerLifetime       string `env:"MAX_WORKER_LIFETIME"`
	MaxWorkerLifetimeJitter string `env:"MAX_WORKER_LIFETIME_JITTER"`
}

// config is pinit's validated configuration.
type config struct {
	Workers       int    // 0: init mode
	WorkersAuto   bool   // WORKERS=auto
	Listen        string // "": bind nothing
	HealthListen  string // "": no health server
	Grace         time.Duration
	DrainDelay    time.Duration
	WorkerTimeout time.Duration // 0: disabled
	StopSignal    unix.Signal
	ReadyURL      string
	LogFormat     string // "json", "text" or "auto"
	LogLevel      slog.Level

	MaxMemory      int64         // bytes; 0: no recycling by memory
	MaxLifetime    time.Duration // 0: no recycling by age
	LifetimeJitter time.Duration // a random 0..this added to each worker's lifetime

	raw rawConfig
}

// maxWorkers bounds WORKERS, as SIGTTIN is bounded.
const maxWorkers = workers.MaxWorkers

// defaultHealthListen is HEALTH_LISTEN when unset, for the server and for
// `pinit --check` alike. A struct tag cannot name a constant, so loadConfig
// sets it before reading the environment rather than envDefault.
const defaultHealthListen = ":8081"

// loadConfig reads the environment with caarlos0/env and validates it. It
// returns every problem, one error per bad variable, so that a user fixes
// them all in one go.
func loadConfig(environ []string, autoWorkers func() int) (config, []error) {
	raw := rawConfig{HealthListen: defaultHealthListen} // kept unless the variable is set
	if err := env.ParseWithOptions(&raw, env.Options{Environment: configEnv(environ)}); err != nil {
		return config{}, []error{err} // only strings are read: cannot happen
	}
	return raw.validate(autoWorkers)
}

// configEnv is the environment as pinit's configuration reads it, one rule
// for every variable: the white space around a value is dropped (a stray
// space or newline from a YAML file, an .env file or a shell is not worth
// refusing to start), and a value that is then empty counts as unset
// (Docker's -e VAR= means "not set", not "set to nothing"). The command gets
// the environment as it came.
func configEnv(environ []string) map[string]string {
	vars := env.ToMap(environ)
	for k, v := range vars {
		if v = strings.TrimSpace(v); v == "" {
			delete(vars, k)
		} else {
			vars[k] = v
		}
	}
	return vars
}

// configValue is one variable as configEnv reads it: for `pinit --check`,
// which reads HEALTH_LISTEN the way the pinit it checks does.
func configValue(environ []string, name string) string { return configEnv(environ)[name] }

// problems collects what validate finds wrong: one error per bad variable,
// naming it and quoting its value.
type problems []error

func (p *problems) bad(name, value, why string) {
	*p = append(*p, fmt.Errorf("invalid %s=%q: %s", name, value, why))
}

// validate turns the environment as read into a config, one group of
// variables at a time, and returns every problem it finds.
func (r rawConfig) validate(autoWorkers func() int) (config, []error) {
	c := config{raw: r, ReadyURL: r.ReadyURL, LogFormat: r.LogFormat}
	var p problems
	r.validateWorkers(&c, &p, autoWorkers)
	r.validateAddrs(&c, &p)
	r.validateDurations(&c, &p)
	r.validateRecycling(&c, &p)
	r.validateStopAndReady(&c, &p)
	r.validateLog(&c, &p)
	return c, p
}

// validateWorkers reads WORKERS: unset is init mode.
func (r rawConfig) validateWorkers(c *config, p *problems, autoWorkers func() int) {
	switch w := r.Workers; {
	case w == "":
	case strings.EqualFold(w, "auto"):
		c.Workers, c.WorkersAuto = min(autoWorkers(), maxWorkers), true
	default:
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n > maxWorkers {
			p.bad("WORKERS", r.Workers, fmt.Sprintf("want a whole number from 1 to %d, or auto", maxWorkers))
		}
		c.Workers = n
	}
}

// validateAddrs reads LISTEN (with PORT) and HEALTH_LISTEN.
func (r rawConfig) validateAddrs(c *config, p *problems) {
	// LISTEN: pool mode binds :$PORT (:8080 without PORT) unless told otherwise.
	switch {
	case strings.EqualFold(r.Listen, "none"):
	case r.Listen != "":
		if why := checkAddr(r.Listen); why != "" {
			p.bad("LISTEN", r.Listen, why)
		}
		c.Listen = r.Listen
	case r.Workers == "":
		// init mode binds nothing by default; PORT is the app's business
	case r.Port != "":
		if n, err := strconv.Atoi(r.Port); err != nil || n < 1 || n > 65535 {
			p.bad("PORT", r.Port, "want a port number from 1 to 65535")
		}
		c.Listen = ":" + r.Port
	default:
		c.Listen = ":8080"
	}

	if !strings.EqualFold(r.HealthListen, "none") {
		if why := checkAddr(r.HealthListen); why != "" {
			p.bad("HEALTH_LISTEN", r.HealthListen, why)
		}
		c.HealthListen = r.HealthListen
	}
}

// validateDurations reads GRACE_TIMEOUT, DRAIN_DELAY (which must fit in it)
// and WORKER_TIMEOUT (0 disables it).
func (r rawConfig) validateDurations(c *config, p *problems) {
	var err error
	if c.Grace, err = parseDuration(r.GraceTimeout); err != nil {
		p.bad("GRACE_TIMEOUT", r.GraceTimeout, err.Error())
	} else if c.Grace == 0 {
		p.bad("GRACE_TIMEOUT", r.GraceTimeout, "must be longer than zero")
	}
	if c.DrainDelay, err = parseDuration(r.DrainDelay); err != nil {
		p.bad("DRAIN_DELAY", r.DrainDelay, err.Error())
	} else if c.Grace > 0 && c.DrainDelay >= c.Grace {
		p.bad("DRAIN_DELAY", r.DrainDelay, fmt.Sprintf("must be shorter than GRACE_TIMEOUT (%s)", c.Grace))
	}
	if c.WorkerTimeout, err = parseDuration(r.WorkerTimeout); err != nil {
		p.bad("WORKER_TIMEOUT", r.WorkerTimeout, err.Error())
	}
}

// validateRecycling reads MAX_WORKER_MEMORY, MAX_WORKER_LIFETIME and its
// jitter (10 % of the lifetime unless set).
func (r rawConfig) validateRecycling(c *config, p *problems) {
	var err error
	if r.MaxWorkerMemory != "" {
		if c.MaxMemory, err = parseBytes(r.MaxWorkerMemory); err != nil {
			p.bad("MAX_WORKER_MEMORY", r.MaxWorkerMemory, err.Error())
		}
	}
	if r.MaxWorkerLifetime != "" {
		if c.MaxLifetime, err = parseDuration(r.MaxWorkerLifetime); err != nil {
			p.bad("MAX_WORKER_LIFETIME", r.MaxWorkerLifetime, err.Error())
		}
	}
	c.LifetimeJitter = c.MaxLifetime / 10
	if r.MaxWorkerLifetimeJitter != "" {
		switch c.LifetimeJitter, err = parseDuration(r.MaxWorkerLifetimeJitter); {
		case err != nil:
			p.bad("MAX_WORKER_LIFETIME_JITTER", r.MaxWorkerLifetimeJitter, err.Error())
		case r.MaxWorkerLifetime == "":
			p.bad("MAX_WORKER_LIFETIME_JITTER", r.MaxWorkerLifetimeJitter, "means nothing without MAX_WORKER_LIFETIME")
		}
	}
}

// parseBytes takes a number of bytes with an optional unit: "300000000",
// "512MiB", "1G". K, M, G, T (and KB, MB, ...) are powers of 1000; KiB,
// MiB, GiB, TiB (and Ki, Mi, ...) powers of 1024, as Kubernetes has them.
func parseBytes(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGTBikmgtb")
	unit := strings.TrimSpace(s[len(num):])
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return 0, errors.New(`want a size above zero such as "512MiB", "1G" or "300000000" (bytes)`)
	}
	mult := map[string]float64{"": 1, "B": 1}
	for i, p := range []string{"K", "M", "G", "T"} {
		dec, bin := math.Pow(1000, float64(i+1)), math.Pow(1024, float64(i+1))
		mult[p], mult[p+"B"], mult[p+"i"], mult[p+"iB"] = dec, dec, bin, bin
	}
	mult["k"], mult["kB"] = 1000, 1000
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q: want B, K, M, G, T (powers of 1000) or KiB, MiB, GiB, TiB", unit)
	}
	if n*m > math.MaxInt64/2 {
		return 0, errors.New("too large")
	}
	return int64(n * m), nil
}

// validateStopAndReady reads STOP_SIGNAL and READY_URL.
func (r rawConfig) validateStopAndReady(c *config, p *problems) {
	var err error
	if c.StopSignal, err = parseSignal(r.StopSignal); err != nil {
		p.bad("STOP_SIGNAL", r.StopSignal, err.Error())
	} else if why := cannotStop(c.StopSignal); why != "" {
		p.bad("STOP_SIGNAL", r.StopSignal, why)
	}
	if r.ReadyURL != "" {
		switch u, err := url.Parse(r.ReadyURL); {
		case err != nil || u.Scheme != "http" || u.Host == "":
			p.bad("READY_URL", r.ReadyURL, "want an http:// URL with a host, e.g. http://127.0.0.1:8080/healthz")
		case c.HealthListen != "" && reachesItself(u, c.HealthListen):
			p.bad("READY_URL", r.ReadyURL, fmt.Sprintf("points at pinit's own health server (HEALTH_LISTEN=%q): "+
				"/ready would ask itself; give the application's own health route", c.HealthListen))
		}
	}
}

// reachesItself reports whether the READY_URL u reaches the health server
// bound to healthListen: the same port, and the same host, or a loopback one
// (127.0.0.0/8, ::1, localhost) or 0.0.0.0 when the server listens on every
// address (":8081", "0.0.0.0:8081", "[::]:8081"). The machine's other
// addresses and names are not looked up.
func reachesItself(u *url.URL, healthListen string) bool {
	hhost, hport, err := net.SplitHostPort(healthListen)
	if err != nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	if port != hport {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, hhost) {
		return true
	}
	local := func(h string) []netip.Addr { // the addresses h stands for, if it is a loopback or "any" one
		if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
		}
		if a, err := netip.ParseAddr(h); err == nil && (a.Unmap().IsLoopback() || a.Unmap().IsUnspecified()) {
			return []netip.Addr{a.Unmap()}
		}
		return nil
	}
	target := local(host)
	if len(target) == 0 {
		return false
	}
	if hhost == "" {
		return true // every address, loopback included
	}
	bound, err := netip.ParseAddr(hhost)
	if err != nil {
		return slices.ContainsFunc(local(hhost), func(a netip.Addr) bool { return slices.Contains(target, a) })
	}
	bound = bound.Unmap()
	return bound.IsUnspecified() || slices.Contains(target, bound) || slices.ContainsFunc(target, netip.Addr.IsUnspecified)
}

// validateLog reads LOG_FORMAT and LOG_LEVEL.
func (r rawConfig) validateLog(c *config, p *problems) {
	switch strings.ToLower(r.LogFormat) {
	case "json", "text", "auto":
		c.LogFormat = strings.ToLower(r.LogFormat)
	default:
		p.bad("LOG_FORMAT", r.LogFormat, "want json, text or auto")
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.LogLevel)); err != nil || !knownLevel(r.LogLevel) {
		p.bad("LOG_LEVEL", r.LogLevel, "want debug, info, warn or error")
	}
}

// maxDuration bounds every duration pinit reads, in either form.
const maxDuration = 24 * time.Hour

// parseDuration takes a Go duration ("10s", "1m30s") or whole seconds ("10"),
// from 0 to a day.
func parseDuration(s string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(maxDuration/time.Second) {
			return 0, errors.New("longer than a day")
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, errors.New(`want a duration such as "10s" or "1m30s", or whole seconds`)
	}
	switch {
	case d < 0:
		return 0, errors.New("must not be negative")
	case d > maxDuration:
		return 0, errors.New("longer than a day")
	}
	return d, nil
}

// parseSignal takes "SIGTERM", "TERM" (any case) or a number such as "15".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, errors.New("want a signal number from 1 to 64")
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errors.New("unknown signal; want a name such as SIGTERM, TERM or a number such as 15")
}

// cannotStop says why sig cannot be the signal that stops a worker
// gracefully, or "" when it can. A graceful stop needs a signal the worker
// can catch, that means nothing else to it, and that does not stop it by
// itself in a way pinit would wait out: SIGKILL and SIGSTOP cannot be
// caught; SIGTSTP, SIGTTIN and SIGTTOU suspend a worker that does not catch
// them (the drain would wait the whole grace for a stopped process);
// SIGCONT's default is to resume; the kernel sends SIGCHLD, and the Go
// runtime SIGURG, for reasons of their own. SIGWINCH, whose default is
// ignored too, is allowed: it is Apache httpd's graceful stop.
func cannotStop(sig unix.Signal) string {
	switch sig {
	case unix.SIGKILL:
		return "SIGKILL cannot be caught: no worker could drain; pinit sends it itself at GRACE_TIMEOUT"
	case unix.SIGSTOP:
		return "SIGSTOP cannot be caught: it suspends the worker instead of stopping it"
	case unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return "it suspends a worker that does not catch it instead of stopping it"
	case unix.SIGCONT:
		return "SIGCONT resumes a process; by default it stops nothing"
	case unix.SIGCHLD, unix.SIGURG:
		return "ignored by default, and sent by the kernel (SIGCHLD) or the Go runtime (SIGURG) for reasons of their own"
	}
	return ""
}

// checkAddr says what is wrong with a host:port address, or "" when nothing is.
func checkAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return `want host:port, :port or [v6]:port`
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "want a port number from 1 to 65535"
	}
	if host == "" || net.ParseIP(host) != nil {
		return ""
	}
	if strings.Trim(host, "0123456789.") == "" {
		// No host name is all digits (its last label cannot be): an IPv4
		// address out of range, such as 999.999.999.999, or cut short.
		return "the host is not a valid IPv4 address"
	}
	if strings.Contains(host, ":") || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
		return "the host is neither an IP address nor a host name"
	}
	return ""
}

func knownLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// logValue lists every setting, for the debug line "config loaded".
func (c config) logValue() []any {
	r := c.raw
	return []any{
		"WORKERS", r.Workers, "workers", c.Workers, "LISTEN", r.Listen, "listen", c.Listen, "PORT", r.Port,
		"HEALTH_LISTEN", r.HealthListen, "GRACE_TIMEOUT", c.Grace.String(), "DRAIN_DELAY", c.DrainDelay.String(),
		"WORKER_TIMEOUT", c.WorkerTimeout.String(), "STOP_SIGNAL", unix.SignalName(c.StopSignal), "READY_URL", r.ReadyURL,
		"LOG_FORMAT", r.LogFormat, "LOG_LEVEL", r.LogLevel,
		"MAX_WORKER_MEMORY", c.MaxMemory, "MAX_WORKER_LIFETIME", c.MaxLifetime.String(),
		"MAX_WORKER_LIFETIME_JITTER", c.LifetimeJitter.String(),
	}
}
