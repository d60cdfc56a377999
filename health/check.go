package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// maxBody is how much of a response body the clients read: enough for pinit's own report, and a bound on what a
// misbehaving READY_URL can make pinit read before the connection is dropped.
const maxBody = 64 << 10

// Check is `pinit --check [live|ready]`: it GETs /health (which is "live" or "") or /ready (which is "ready") from
// the health server at addr, in HEALTH_LISTEN syntax, all within timeout. An empty or unspecified host (":8081",
// "0.0.0.0:8081", "[::]:8081") means loopback: 127.0.0.1, or [::1] for an IPv6 one. It returns nil on HTTP 200 and
// otherwise an error naming what failed: the status code, connection refused, the timeout. addr "none" is the
// error "health server disabled (HEALTH_LISTEN=none)".
func Check(addr, which string, timeout time.Duration) error {
	target, err := checkURL(addr, which)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("check %s: %w", target, err)
	}
	client := &http.Client{
		// A proxy from the environment (HTTP_PROXY) must never see a check meant for this container.
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return fmt.Errorf("check %s: no answer within %v", target, timeout)
		}
		return fmt.Errorf("check: %w", err) // *url.Error: names the URL and what failed, e.g. connection refused
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("check %s: %s (reading body: %w)", target, resp.Status, err)
	}
	var rep report
	if json.Unmarshal(body, &rep) != nil || rep.State == "" {
		return fmt.Errorf("check %s: %s", target, resp.Status)
	}
	if rep.ReadyURLError != "" {
		return fmt.Errorf("check %s: %s (state %s, READY_URL: %s)", target, resp.Status, rep.State, rep.ReadyURLError)
	}
	return fmt.Errorf("check %s: %s (state %s)", target, resp.Status, rep.State)
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

// ProbeURL returns the READY_URL probe: it GETs rawURL within 1 s (less if ctx ends sooner) and fails unless the answer
// is 2xx. Redirects are not followed: a 3xx is a failure. The probe reuses connections, draining and closing every
// response body so it can.
func ProbeURL(rawURL string) func(context.Context) error {
	client := &http.Client{
		Timeout: probeTimeout,
		Transport: &http.Transport{
			Proxy:               nil, // the application is local; HTTP_PROXY is not meant for it
			DialContext:         (&net.Dialer{Timeout: probeTimeout}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return fmt.Errorf("READY_URL: %w", err)
		}
		req.Header.Set("User-Agent", "pinit")
		resp, err := client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) && ue.Timeout() {
				return fmt.Errorf("GET %s: no answer within %v", rawURL, probeTimeout)
			}
			return err // *url.Error: names the method, the URL and what failed
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("GET %s: %s", rawURL, resp.Status)
		}
		return nil
	}
}
