package mailwatch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// ErrLoginDisabled marks a server that advertises LOGINDISABLED: it
// refuses passwords on this connection, so ackd sends none. Unlike ErrAuth
// the password may well be right; the TLS setting or the server's
// configuration is what needs fixing.
var ErrLoginDisabled = errors.New("the IMAP server refuses LOGIN on this connection (LOGINDISABLED)")

// loginDisabled says what a server that advertises LOGINDISABLED wants
// instead: TLS, or one of the AUTHENTICATE mechanisms it lists.
func loginDisabled(tlsMode string, caps imap.CapSet) error {
	var want []string
	switch {
	case tlsMode == "none" && caps.Has(imap.CapStartTLS):
		want = append(want, "TLS first: set tls: starttls (or tls: implicit, usually port 993)")
	case tlsMode == "none":
		want = append(want, "TLS: set tls: implicit (usually port 993)")
	}
	mechs := caps.AuthMechanisms()
	slices.Sort(mechs)
	if len(mechs) > 0 {
		s := "AUTHENTICATE with " + strings.Join(mechs, ", ")
		for _, m := range mechs {
			if strings.EqualFold(m, "XOAUTH2") || strings.EqualFold(m, "OAUTHBEARER") {
				s += " (ackd speaks XOAUTH2 and OAUTHBEARER: imap.oauth2)"
				break
			}
		}
		want = append(want, s)
	}
	if len(want) == 0 {
		want = append(want, "a login ackd cannot offer (no TLS is missing and no AUTHENTICATE mechanism is advertised); allow LOGIN on the server")
	}
	return fmt.Errorf("%w: it wants %s; no password was sent", ErrLoginDisabled, strings.Join(want, ", or "))
}

// ByeError is a session the server ended with an untagged BYE: Text is
// the reason it gave ("mox shutting down"), Err what the client saw of
// the connection closing (usually "unexpected EOF").
type ByeError struct {
	Text string
	Err  error
}

func (e *ByeError) Error() string { return "the IMAP server closed the session: BYE " + e.Text }
func (e *ByeError) Unwrap() error { return e.Err }

// Level is how loudly to log it: a server announcing a shutdown or
// restart is doing its job (info); any other reason, an inactivity
// timeout or too many connections, is worth a look (warn).
func (e *ByeError) Level() slog.Level {
	t := strings.ToLower(e.Text)
	for _, s := range []string{"shutting down", "shutdown", "shut down", "restart", "going down", "maintenance", "reboot", "stopping"} {
		if strings.Contains(t, s) {
			return slog.LevelInfo
		}
	}
	return slog.LevelWarn
}

// logoutGrace is how long a shutdown waits for the server to answer the
// IDLE DONE and LOGOUT that end the session politely, before it closes
// the connection anyway.
const logoutGrace = 2 * time.Second

// dial connects the way the watcher does, for callers that need only the
// client.
func (w *Watcher) dial(opts *imapclient.Options) (*imapclient.Client, error) {
	c, _, err := w.dialConn(context.Background(), opts)
	return c, err
}

// dialConn connects and, unless tls is none, starts TLS, all within
// DialTimeout. The TLS handshake (and STARTTLS) is ackd's own rather than
// imapclient's so that the connection the client reads from is the
// plain-text one after TLS, which serverConn watches for BYE: imapclient
// parses the BYE a server sends before closing and drops its text.
func (w *Watcher) dialConn(ctx context.Context, opts *imapclient.Options) (*imapclient.Client, *serverConn, error) {
	mode := w.cfg.TLS
	switch mode {
	case "":
		mode = "implicit"
	case "implicit", "starttls", "none":
	default:
		return nil, nil, fmt.Errorf("imap tls mode %q unknown", w.cfg.TLS)
	}
	dialer := opts.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: w.cfg.DialTimeout}
	}
	timeout := dialer.Timeout
	if timeout <= 0 {
		timeout = w.cfg.DialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := dialer.DialContext(dctx, "tcp", w.cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", w.cfg.Addr, err)
	}
	deadline, _ := dctx.Deadline()
	_ = raw.SetDeadline(deadline)
	conn := &serverConn{Conn: raw}
	switch mode {
	case "implicit":
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = w.tlsConfig()
		}
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("connect to %s: tls: %w", w.cfg.Addr, err)
		}
		conn.Conn = tc
	case "starttls":
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = w.tlsConfig()
		}
		tc, err := startTLS(dctx, raw, cfg)
		if err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("connect to %s: starttls: %w", w.cfg.Addr, err)
		}
		conn.Conn = tc
		// After STARTTLS the server sends no second greeting, and
		// imapclient waits for one: this stands in for it, and makes the
		// client ask for the capabilities anew, as RFC 9051 6.2.1 wants.
		conn.prefix = []byte("* OK TLS started\r\n")
	}
	_ = raw.SetDeadline(time.Time{})
	return imapclient.New(conn, opts), conn, nil
}

// startTLS reads the greeting, asks for STARTTLS and does the handshake.
// Data the server sends after its OK and before the handshake is refused
// (an injection attempt, CVE-2011-0411's kind).
func startTLS(ctx context.Context, raw net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	br := bufio.NewReader(raw)
	greeting, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("read greeting: %w", err)
	}
	switch kind, text := untagged(greeting); kind {
	case "OK":
	case "BYE":
		return nil, &ByeError{Text: text, Err: errors.New("greeting")}
	case "PREAUTH":
		return nil, errors.New("server sent PREAUTH on an unencrypted connection")
	default:
		return nil, fmt.Errorf("unexpected greeting %q", clipLine(greeting))
	}
	if _, err := raw.Write([]byte("S1 STARTTLS\r\n")); err != nil {
		return nil, err
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if kind, text := untagged(line); kind == "BYE" {
			return nil, &ByeError{Text: text, Err: errors.New("starttls")}
		} else if kind != "" {
			continue // CAPABILITY and the like
		}
		if rest, ok := strings.CutPrefix(line, "S1 "); ok {
			if !strings.HasPrefix(strings.ToUpper(rest), "OK") {
				return nil, fmt.Errorf("server refused STARTTLS: %s", clipLine(rest))
			}
			break
		}
		return nil, fmt.Errorf("unexpected response %q", clipLine(line))
	}
	if br.Buffered() > 0 {
		return nil, errors.New("server sent data between STARTTLS and the TLS handshake")
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tc, nil
}

// readLine reads one response line before TLS, without its CRLF.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, more, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > 8<<10 {
			return "", errors.New("response line too long")
		}
		if !more {
			return string(b), nil
		}
	}
}

// untagged splits "* OK text" into "OK" and "text"; kind is "" for any
// other line.
func untagged(line string) (kind, text string) {
	rest, ok := strings.CutPrefix(line, "* ")
	if !ok {
		return "", ""
	}
	kind, text, _ = strings.Cut(rest, " ")
	return strings.ToUpper(kind), strings.TrimSpace(text)
}

// clipLine makes a server's line fit for a log.
func clipLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// serverConn is the connection imapclient reads from. It passes every
// byte through and remembers the text of the last untagged BYE, framing
// the stream the way IMAP does (lines, and literals of the length a
// line announces in its trailing {n}) so that message bodies, which may
// contain anything, are never mistaken for a response.
type serverConn struct {
	net.Conn
	// prefix is read before the connection's own bytes.
	prefix []byte

	line    []byte
	literal int64
	bye     atomic.Pointer[string]
}

func (c *serverConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	c.scan(p[:n])
	return n, err
}

// Bye returns the text of the last BYE the server sent, if any.
func (c *serverConn) Bye() (string, bool) {
	if t := c.bye.Load(); t != nil {
		return *t, true
	}
	return "", false
}

// lineKeep is how much of a long line the scanner keeps at each end: the
// start says what the response is, the end whether a literal follows.
const lineKeep = 256

func (c *serverConn) scan(p []byte) {
	for len(p) > 0 {
		if c.literal > 0 {
			n := min(int64(len(p)), c.literal)
			c.literal -= n
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.keep(p)
			return
		}
		c.keep(p[:i])
		p = p[i+1:]
		c.endLine()
	}
}

func (c *serverConn) keep(b []byte) {
	c.line = append(c.line, b...)
	if len(c.line) > 2*lineKeep {
		c.line = append(c.line[:lineKeep], c.line[len(c.line)-lineKeep:]...)
	}
}

func (c *serverConn) endLine() {
	line := string(bytes.TrimSuffix(c.line, []byte("\r")))
	c.line = c.line[:0]
	if kind, text := untagged(line); kind == "BYE" {
		text = clipLine(text)
		c.bye.Store(&text)
	}
	c.literal = literalSize(line)
}

// literalSize is n when line ends with a literal's announcement {n} (or
// {n+}), else 0.
func literalSize(line string) int64 {
	body, ok := strings.CutSuffix(line, "}")
	if !ok {
		return 0
	}
	open := strings.LastIndexByte(body, '{')
	if open < 0 {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(body[open+1:], "+"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// logout ends a session politely at shutdown. The watchdog in session
// closes the connection logoutGrace after ctx ended, which bounds it.
func (w *Watcher) logout(c *imapclient.Client) {
	if c.State() == imap.ConnStateLogout {
		return // already closed
	}
	if err := c.Logout().Wait(); err != nil {
		w.log.Debug("IMAP LOGOUT failed", "err", err)
	}
}
