package mailwatch

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Push wake-ups: an IMAP server that can call a URL when mail arrives
// (Dovecot's push_notification plugin, see docs/deployment.md) tells ackd
// at once instead of waiting for IDLE (which Dovecot holds back half a
// second) or the next poll. A push only wakes a watcher: the watcher then
// asks the server what is new exactly as after a poll, so a forged, lost
// or repeated push can neither add nor lose a request; it can only cost a
// NOOP and a UID SEARCH. Polling and IDLE stay on as the safety net.

// maxPushBody bounds what a push may send; Dovecot's payloads are a few
// hundred bytes.
const maxPushBody = 64 << 10

// PushEvent is what ackd reads of a push: the notification's "user" (the
// IMAP login whose mailbox changed) and "folder" (the mailbox). Both
// Dovecot drivers send them: ox's JSON (which has more fields) and the
// Lua script of docs/deployment.md.
type PushEvent struct {
	User   string `json:"user"`
	Folder string `json:"folder"`
}

// PushHandler serves push notifications: POST or PUT (Dovecot's ox
// driver PUTs) with the shared secret as a bearer token or as the
// password of HTTP basic auth (ox puts it in the URL's userinfo; the user
// name is not checked), and a JSON PushEvent body. It calls wake with the
// event and answers 204 whether or not a watcher matched, so a caller
// learns nothing about which mailboxes ackd watches. An empty body wakes
// every watcher (wake with the zero event). Without the secret it answers
// 401 and wakes nothing. secret must not be empty.
func PushHandler(secret string, wake func(PushEvent) int, log *slog.Logger) http.Handler {
	want := sha256.Sum256([]byte(secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		got, ok := pushCredential(r)
		// Hashing first makes the comparison constant-time in the length
		// of the secret too.
		if sum := sha256.Sum256([]byte(got)); !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			log.Warn("push refused: wrong or missing secret", "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Basic realm="ackd push", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBody))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		var ev PushEvent
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &ev); err != nil {
				http.Error(w, "body is not a JSON object with user and folder", http.StatusBadRequest)
				return
			}
		}
		n := wake(ev)
		log.Debug("push", "user", ev.User, "folder", ev.Folder, "woken", n)
		w.WriteHeader(http.StatusNoContent)
	})
}

// pushCredential returns the secret a request presents: a bearer token,
// or basic auth's password.
func pushCredential(r *http.Request) (string, bool) {
	if _, pw, ok := r.BasicAuth(); ok {
		return pw, true
	}
	const bearer = "bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(bearer) && strings.EqualFold(h[:len(bearer)], bearer) {
		return strings.TrimSpace(h[len(bearer):]), true
	}
	return "", false
}

// Wake kicks the watchers a push names: those logging in as ev.User (in
// any case) that watch ev.Folder (INBOX in any case), or a Sent mailbox
// found by SPECIAL-USE, whose name ackd learns only in the session. A zero
// event wakes every watcher. It returns how many it woke.
func (d *Daemon) Wake(ev PushEvent) int {
	n := 0
	for _, w := range d.watched {
		user, mailbox := w.Mailbox()
		if ev != (PushEvent{}) {
			if !strings.EqualFold(user, ev.User) {
				continue
			}
			if mailbox != "" && mailbox != ev.Folder && !(strings.EqualFold(mailbox, "INBOX") && strings.EqualFold(ev.Folder, "INBOX")) {
				continue
			}
		}
		w.Kick()
		n++
	}
	return n
}

// ServePush serves PushHandler on ln until ctx is done, then shuts the
// server down.
func ServePush(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("push listener: %w", err)
}
