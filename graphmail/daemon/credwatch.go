package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/setup"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// credWatch keeps the daemon's client credential current and in view:
//
//   - it polls the credential files (client_secret_file,
//     client_certificate) every interval, and reads them at once on
//     SIGHUP; the provider switches to a changed credential by itself, and
//     also when the identity platform refuses the running one
//     (AADSTS7000215/7000222, invalid_client) and the files hold another;
//   - when the credential changes, the messages whose last attempt failed
//     because of it (class needs-operator or config) are made due now
//     instead of at their next backoff slot; such messages are never
//     dead-lettered for that failure (Disposition keeps them queued);
//   - once a day it logs a warning for each credential that has expired
//     or expires within credential_warn_days, and it keeps their expiry
//     for graphmail_credential_expiry_timestamp_seconds.
type credWatch struct {
	st       *setup.Stack
	tokens   *auth.Provider // nil: no client credential (dry run, tests)
	sp       spool.Queue
	log      *slog.Logger
	cfg      *config.Config // mu: replaced by a reload
	interval time.Duration
	now      func() time.Time

	mu       sync.Mutex
	held     map[spool.ID]bool // deferred because of the credential or the configuration
	infos    []auth.CredentialInfo
	reg      *auth.Registration
	warnDay  string // the day of the last expiry warning
	regDay   string // the day the registration was last read
	regNoted bool   // the registration cannot be read: said once
	pollErr  string // the last poll error, logged once
}

func newCredWatch(st *setup.Stack, sp spool.Queue, log *slog.Logger, interval time.Duration, now func() time.Time) *credWatch {
	if interval <= 0 {
		interval = TokenWatchInterval
	}
	if now == nil {
		now = time.Now
	}
	w := &credWatch{st: st, tokens: st.Tokens, sp: sp, cfg: st.Config, log: log, interval: interval, now: now, held: map[spool.ID]bool{}}
	if w.tokens != nil {
		w.infos = w.tokens.Credentials(nil)
	}
	return w
}

// observe notes which messages wait because of the credential or the
// configuration (spool.RunOptions.OnEvent).
func (w *credWatch) observe(e spool.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e.Outcome {
	case spool.OutcomeDeferred:
		err := e.Err
		var r retryable // Disposition's mark hides the class behind Temporary
		if errors.As(err, &r) {
			err = r.error
		}
		switch graphmail.ClassOf(err) {
		case graphmail.NeedsOperator, graphmail.Misconfigured:
			w.held[e.ID] = true
		default:
			delete(w.held, e.ID)
		}
	case spool.OutcomeSubmitted, spool.OutcomeDead:
		delete(w.held, e.ID)
	}
}

// run polls the credential files every interval, retries held messages
// when the credential changes and warns once a day, until ctx ends.
func (w *credWatch) run(ctx context.Context) {
	if w.tokens == nil {
		return
	}
	t := time.NewTicker(w.interval)
	defer t.Stop()
	changed := w.tokens.CredentialChanged()
	w.daily(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			changed = w.tokens.CredentialChanged()
			w.credentialChanged()
		case <-t.C:
			w.poll(false)
			w.daily(ctx)
		}
	}
}

// poll reads the credential files again (all of them with force, else
// only those whose time or size changed). A change is handled by run,
// which the provider wakes.
func (w *credWatch) poll(force bool) {
	if w == nil || w.tokens == nil || !w.tokens.WatchesFiles() {
		return
	}
	_, err := w.tokens.ReloadCredentials(force)
	w.mu.Lock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	report := msg != w.pollErr
	w.pollErr = msg
	w.mu.Unlock()
	if err != nil && report {
		w.log.Error("cannot read the new client credential; keeping the running one", "error", msg,
			"hint", "replace the file in one step (write a temporary file, then rename it over the old one)")
	}
}

// reconfigure applies the credential files of a reloaded configuration
// (a second file listed for a rotation, another path, a new
// client_secret_expires) and reads them.
func (w *credWatch) reconfigure(cfg *config.Config) {
	if w == nil || w.tokens == nil || !w.tokens.WatchesFiles() {
		return
	}
	files, expires := setup.CredentialFiles(cfg)
	if files == nil {
		w.log.Warn("the reloaded configuration does not read the client credential from files; restart graphmail serve to apply it")
		return
	}
	if _, err := w.tokens.SetCredentialFiles(*files, expires); err != nil {
		w.log.Error("the reloaded credential files cannot be used; keeping the running ones", "error", err.Error())
		return
	}
	w.mu.Lock()
	w.cfg = cfg
	w.infos = w.tokens.Credentials(w.reg)
	w.warnDay = ""
	w.mu.Unlock()
}

// credentialChanged makes the held messages due now and refreshes the
// expiry view.
func (w *credWatch) credentialChanged() {
	w.mu.Lock()
	ids := make([]spool.ID, 0, len(w.held))
	for id := range w.held {
		ids = append(ids, id)
	}
	clear(w.held)
	w.infos = w.tokens.Credentials(w.reg)
	w.warnDay = "" // say at once if the new credential expires soon too
	w.mu.Unlock()
	n := 0
	for _, id := range ids {
		if err := w.sp.Retry(id); err == nil {
			n++
		} else if !errors.Is(err, spool.ErrNotFound) {
			w.log.Warn("cannot retry a held message", "id", string(id), "error", err.Error())
		}
	}
	w.log.Info("client credential changed; retrying the messages it held", "messages", n)
	w.warnExpiring()
}

// daily reads the app registration (optional) and warns about expiring
// credentials, each at most once a day.
func (w *credWatch) daily(ctx context.Context) {
	today := w.now().Format(time.DateOnly)
	w.mu.Lock()
	readReg := w.regDay != today
	w.regDay = today
	w.mu.Unlock()
	if readReg {
		w.readRegistration(ctx)
	}
	w.warnExpiring()
}

// readRegistration reads the endDateTime of the app's secrets and
// certificates from Graph. The permission it needs is optional: without
// it the daemon says so once and goes on with what it knows locally.
func (w *credWatch) readRegistration(ctx context.Context) {
	if len(w.tokens.Credentials(nil)) == 0 || w.st.Config.GraphEndpoint == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reg, err := setup.ReadRegistration(ctx, w.st)
	var re *auth.RegistrationError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.NotPermitted():
		w.mu.Lock()
		noted := w.regNoted
		w.regNoted = true
		w.mu.Unlock()
		if !noted {
			w.log.Info("the app may not read its registration, so secret expiry comes from client_secret_expires only",
				"hint", "optional: grant Application.Read.All (or Application.ReadWrite.OwnedBy) to read the secrets' end dates")
		}
		return
	default:
		w.log.Debug("cannot read the app registration", "error", err.Error())
		return
	}
	w.mu.Lock()
	w.reg = reg
	w.infos = w.tokens.Credentials(reg)
	w.mu.Unlock()
}

// warnExpiring logs the expiry warnings once a day.
func (w *credWatch) warnExpiring() {
	if w.tokens == nil {
		return
	}
	now := w.now()
	today := now.Format(time.DateOnly)
	w.mu.Lock()
	w.infos = w.tokens.Credentials(w.reg)
	due := w.warnDay != today
	reg, cfg := w.reg, w.cfg
	w.mu.Unlock()
	if !due {
		return
	}
	creds := setup.ExpiringCredentials(cfg, w.tokens, reg, now)
	if len(creds) == 0 {
		return
	}
	w.mu.Lock()
	w.warnDay = today
	w.mu.Unlock()
	setup.LogExpiring(w.log, creds, now)
}

// credentials returns what the metrics show.
func (w *credWatch) credentials() []auth.CredentialInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.infos
}
