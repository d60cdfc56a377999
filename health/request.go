package health

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
)

// request is what the server needs of a request: its method, the path of its target, and the version to answer in.
type request struct {
	method string
	path   string // decoded, query removed: "/health?x=1" and "http://pinit/health" are both "/health"
	proto  string // "HTTP/1.0" for a 1.0 request, "HTTP/1.1" otherwise
}

// errHeadTooLarge is a request head that does not end within the server's limit.
var errHeadTooLarge = errors.New("request head too large")

// readHead reads from r until the empty line that ends a request head, and returns the head up to and including
// that line. Empty lines before the request line are skipped (RFC 9112 §2.2). At most limit bytes are read: a head
// that has not ended by then is errHeadTooLarge. Bytes after the head (a body, a pipelined request) may be read
// too; the server ignores them. It reads into buf's spare capacity (512 bytes of its own when buf has none) and
// grows it only for a larger head.
func readHead(r io.Reader, buf []byte, limit int) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, min(512, limit))
	}
	buf = buf[:0]
	start, from := 0, 0 // start: the request line's first byte; from: where to look for the empty line next
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= limit {
				return nil, errHeadTooLarge
			}
			buf = slices.Grow(buf, min(cap(buf), limit-len(buf)))
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		for start < len(buf) && (buf[start] == '\r' || buf[start] == '\n') {
			start++
		}
		if start < len(buf) {
			if end := headEnd(buf, max(start, from)); end >= 0 {
				return buf[start:end], nil
			}
			from = max(start, len(buf)-2) // a line break here may be the start of the empty line
		}
		if err != nil {
			return nil, err
		}
	}
}

// headEnd returns the index just after the first empty line ("\n\n" or "\n\r\n") at or after from, or -1.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return j + 1
		}
	}
	return -1
}

// parseHead parses a head as readHead returns it. The status code is 0 for a request to answer, otherwise the
// error to answer with: 505 for an HTTP major version other than 1, 400 for anything malformed (the request line,
// a header line, a missing or repeated Host). What was understood comes back with the error too, so that the
// answer to a HEAD request has no body. Lines end in CRLF or a bare LF; header values are not kept.
func parseHead(head []byte) (request, int) {
	req := request{proto: "HTTP/1.1"}
	line, rest, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))

	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || !isToken(method) {
		return req, 400
	}
	req.method = string(method)
	switch v := string(version); {
	case v == "HTTP/1.1":
	case v == "HTTP/1.0":
		req.proto = v
	case len(v) == 8 && v[:5] == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]):
		if v[5] != '1' {
			return req, 505
		}
		// HTTP/1.2 and up are answered as 1.1 (RFC 9110 §6.2).
	default:
		return req, 400
	}
	if len(target) == 0 || slices.ContainsFunc(target, func(c byte) bool { return c <= ' ' || c == 0x7f }) {
		return req, 400
	}
	u, err := url.ParseRequestURI(string(target)) // origin-form, absolute-form or "*", as net/http reads it
	if err != nil {
		return req, 400
	}
	req.path = u.Path

	hosts := 0
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		// A name is a token right before the colon: no space there, no obsolete line folding (RFC 9112 §5).
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isToken(name) || slices.ContainsFunc(value, func(c byte) bool { return c < ' ' && c != '\t' || c == 0x7f }) {
			return req, 400
		}
		if bytes.EqualFold(name, []byte("Host")) {
			hosts++
		}
	}
	// RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host, any request at most one.
	if hosts > 1 || hosts == 0 && req.proto != "HTTP/1.0" {
		return req, 400
	}
	return req, 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isToken reports whether b is a non-empty RFC 9110 token: a method or a header name.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
