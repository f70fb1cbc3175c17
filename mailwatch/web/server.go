package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BasicAuth guards the status page and /metrics when User is set.
// /healthz and /readyz stay open so probes need no secret.
type BasicAuth struct {
	User     string
	Password string
}

// Server serves /metrics, /healthz, /readyz and the status page.
type Server struct {
	src     Sources
	metrics *Metrics
	auth    BasicAuth
	log     *slog.Logger
	page    *template.Template
	mux     *http.ServeMux
}

// New builds the server. metrics may be nil, which serves no /metrics.
func New(src Sources, metrics *Metrics, auth BasicAuth, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{src: src, metrics: metrics, auth: auth, log: log, page: statusTemplate, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if metrics != nil {
		s.mux.Handle("GET /metrics", s.guard(promhttp.HandlerFor(metrics.reg, promhttp.HandlerOpts{
			ErrorLog:      slogPrinter{log},
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      metrics.reg,
		})))
	}
	s.mux.Handle("GET /{$}", s.guard(http.HandlerFunc(s.status)))
	return s
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve answers on ln until ctx is done, then shuts down, giving requests
// in flight a few seconds. It returns nil after a shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			s.log.Warn("http shutdown", "err", err)
		}
	}()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("serve http: %w", err)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	plain(w)
	fmt.Fprintln(w, "ok")
}

// readyz is 200 only when every mailbox session is up and the store
// answers. It names what is not ready but not the errors themselves: the
// probe is open to anyone who can reach the port, and session errors name
// servers and accounts.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var problems []string
	for _, mb := range s.src.mailboxes() {
		if !mb.Connected {
			problems = append(problems, fmt.Sprintf("imap %s: not connected", mb.Name))
			if mb.Err != nil {
				s.log.Debug("readyz: mailbox not connected", "mailbox", mb.Name, "err", mb.Err)
			}
		}
	}
	if s.src.Outbox != nil {
		if err := s.src.Outbox(); err != nil {
			problems = append(problems, "outbox: mail held, the SMTP server is unreachable")
			s.log.Debug("readyz: outbox held", "err", err)
		}
	}
	if s.src.Store == nil {
		problems = append(problems, "store: not configured")
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout)
		defer cancel()
		if _, err := s.src.Store.PendingMail(ctx); err != nil {
			problems = append(problems, "store: not answering")
			s.log.Warn("readyz: store query failed", "err", err)
		}
	}
	plain(w)
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:")
		for _, p := range problems {
			fmt.Fprintln(w, "  "+p)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

func plain(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// guard asks for basic auth when it is configured. Both sides are hashed
// before the constant-time comparison, so neither the length of the user
// nor of the password leaks through timing.
func (s *Server) guard(h http.Handler) http.Handler {
	if s.auth.User == "" {
		return h
	}
	wantUser := sha256.Sum256([]byte(s.auth.User))
	wantPass := sha256.Sum256([]byte(s.auth.Password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(user))
		gotPass := sha256.Sum256([]byte(pass))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ackd", charset="UTF-8"`)
			plain(w)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, "unauthorized")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
