package health

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody is how much of a response body the clients read: enough for pinit's own report, and a bound on what a
// misbehaving READY_URL can make pinit read. maxResponseHead bounds the status line and headers the same way.
const (
	maxBody         = 64 << 10
	maxResponseHead = 64 << 10
)

// response is the head of an HTTP/1.x response; its body is still to be read from the connection.
type response struct {
	code   int
	status string // as the server sent it: "503 Service Unavailable"
	length int64  // Content-Length; -1 when unknown or the body is chunked

	conn net.Conn
	br   *bufio.Reader
	read int         // bytes of head read so far
	stop func() bool // unregisters the context's AfterFunc
}

// get sends "GET u" over a new connection to u's host, with "Connection: close" and no proxy, and reads the
// response's head, all before ctx ends: its deadline is the connection's, and cancelling it cuts the connection.
// The caller reads the body if it wants and closes the response. Redirects are answers like any other.
func get(ctx context.Context, u *url.URL) (*response, error) {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	r := &response{conn: c, br: bufio.NewReader(c), length: -1}
	r.stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })

	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + hostHeader(u.Host) + "\r\nUser-Agent: pinit\r\n"
	if u.User != nil {
		pass, _ := u.User.Password()
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)) + "\r\n"
	}
	req += "Connection: close\r\n\r\n"
	if err = send(c, []byte(req)); err == nil {
		err = r.readHead()
	}
	if err != nil {
		r.close()
		if ctx.Err() != nil { // the deadline or a cancel cut the connection: say which
			err = ctx.Err()
		}
		return nil, err
	}
	return r, nil
}

// hostHeader is u.Host without an IPv6 zone, which means nothing to the server ("[fe80::1%25eth0]:80" →
// "[fe80::1]:80"), as net/http sends it.
func hostHeader(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i, j := strings.LastIndex(host, "%25"), strings.LastIndex(host, "]")
	if i < 0 || j < i {
		return host
	}
	return host[:i] + host[j:]
}

// readHead reads the status line and the headers, skipping interim 1xx responses (but 101). It keeps the status
// and the body's length.
func (r *response) readHead() error {
	for {
		line, err := r.line()
		if err != nil {
			return err
		}
		proto, status, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(proto, "HTTP/") {
			return fmt.Errorf("malformed HTTP response %q", line)
		}
		status = strings.TrimLeft(status, " ")
		digits, _, _ := strings.Cut(status, " ")
		code, err := strconv.Atoi(digits)
		if len(digits) != 3 || err != nil || code < 100 {
			return fmt.Errorf("malformed HTTP status code %q", digits)
		}
		r.code, r.status, r.length = code, status, -1
		chunked := false
		for {
			line, err := r.line()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return err
			}
			if line == "" {
				break
			}
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return fmt.Errorf("malformed HTTP response header %q", line)
			}
			switch {
			case strings.EqualFold(name, "Content-Length"):
				if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil && n >= 0 {
					r.length = n
				}
			case strings.EqualFold(name, "Transfer-Encoding"):
				chunked = true
			}
		}
		if chunked { // the body runs to the end of the connection, chunk framing included
			r.length = -1
		}
		if code >= 200 || code == 101 {
			return nil
		}
	}
}

// line reads one line of the head, without its CRLF or LF. EOF before the first byte is io.EOF.
func (r *response) line() (string, error) {
	var line []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		r.read += len(frag)
		if r.read > maxResponseHead {
			return "", errors.New("response head too large")
		}
		line = append(line, frag...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return "", io.ErrUnexpectedEOF
		case err != nil:
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"), nil
	}
}

// body copies the body to w, at most limit bytes: Content-Length bytes, or up to the end of the connection when
// there is no length. A 1xx, 204 or 304 answer has none.
func (r *response) body(w io.Writer, limit int64) error {
	if r.code < 200 || r.code == 204 || r.code == 304 {
		return nil
	}
	n := limit
	if r.length >= 0 {
		n = min(n, r.length)
	}
	_, err := io.CopyN(w, r.br, n)
	if err == io.EOF {
		if r.length >= 0 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	return err
}

func (r *response) close() {
	r.stop()
	r.conn.Close()
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
