package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"time"
)

// Check is `pinit --check [live|ready]`: it GETs /health (which is "live" or "") or /ready (which is "ready") from
// the health server at addr, in HEALTH_LISTEN syntax, all within timeout. An empty or unspecified host (":8081",
// "0.0.0.0:8081", "[::]:8081") means loopback: 127.0.0.1, or [::1] for an IPv6 one. It returns nil on HTTP 200 and
// otherwise an error naming what failed: the status code, connection refused, the timeout. addr "none" is the
// error "health server disabled (HEALTH_LISTEN=none)". No proxy is used and no redirect followed.
func Check(addr, which string, timeout time.Duration) error {
	target, err := checkURL(addr, which)
	if err != nil {
		return err
	}
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("check %s: %w", target, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := get(ctx, u)
	if err != nil {
		if isTimeout(err) {
			return fmt.Errorf("check %s: no answer within %v", target, timeout)
		}
		// As net/http said it, e.g. `Get "http://127.0.0.1:8081/health": dial tcp 127.0.0.1:8081: connect: connection refused`.
		return fmt.Errorf("check: %w", &url.Error{Op: "Get", URL: target, Err: err})
	}
	defer resp.close()
	if resp.code == 200 {
		return nil
	}
	var body bytes.Buffer
	if err := resp.body(&body, maxBody); err != nil {
		return fmt.Errorf("check %s: %s (reading body: %w)", target, resp.status, err)
	}
	var rep report
	if json.Unmarshal(body.Bytes(), &rep) != nil || rep.State == "" {
		return fmt.Errorf("check %s: %s", target, resp.status)
	}
	if rep.ReadyURLError != "" {
		return fmt.Errorf("check %s: %s (state %s, READY_URL: %s)", target, resp.status, rep.State, rep.ReadyURLError)
	}
	return fmt.Errorf("check %s: %s (state %s)", target, resp.status, rep.State)
}

// checkURL turns a HEALTH_LISTEN address and a check name into the URL Check GETs.
func checkURL(addr, which string) (string, error) {
	var path string
	switch which {
	case "", "live":
		path = "/health"
	case "ready":
		path = "/ready"
	default:
		return "", fmt.Errorf("check %q: unknown check, want live or ready", which)
	}
	if addr == "none" {
		return "", errors.New("health server disabled (HEALTH_LISTEN=none)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("HEALTH_LISTEN=%q: %w", addr, err)
	}
	if port == "" {
		return "", fmt.Errorf("HEALTH_LISTEN=%q: missing port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	} else if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.Is6() {
			host = "::1"
		}
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: path}
	return u.String(), nil
}

// readyProbe returns the READY_URL probe: it GETs rawURL within 1 s (less if ctx ends sooner) and fails unless the
// answer is 2xx. Redirects are not followed: a 3xx is a failure. Each probe is one connection, closed by the
// answer ("Connection: close"); the probe reads what the application sends, up to maxBody, so that neither side
// resets it.
func readyProbe(rawURL string) func(context.Context) error {
	u, bad := url.Parse(rawURL)
	if bad == nil && u.Scheme != "http" {
		bad = fmt.Errorf("unsupported protocol scheme %q in %q", u.Scheme, rawURL)
	} else if bad == nil && u.Host == "" {
		bad = fmt.Errorf("no host in %q", rawURL)
	}
	return func(ctx context.Context) error {
		if bad != nil {
			return fmt.Errorf("READY_URL: %w", bad)
		}
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		resp, err := get(ctx, u)
		if err != nil {
			if isTimeout(err) {
				return fmt.Errorf("GET %s: no answer within %v", rawURL, probeTimeout)
			}
			return &url.Error{Op: "Get", URL: rawURL, Err: err} // names the URL and what failed
		}
		defer resp.close()
		_ = resp.body(io.Discard, maxBody) // the verdict is in; an application slow to end its body changes nothing
		if resp.code < 200 || resp.code > 299 {
			return fmt.Errorf("GET %s: %s", rawURL, resp.status)
		}
		return nil
	}
}
