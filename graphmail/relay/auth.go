package relay

import (
	"runtime"
	"time"
)

// Password checks are expensive on purpose: one argon2id check with
// HashPassword's parameters takes 64 MiB and about a quarter of a second
// of CPU. At most maxPasswordChecks run at once, server-wide; an AUTH that
// finds no free slot within passwordCheckWait gets 454 4.7.0 (try again
// later), and counts as a failure for the delays of its client.
const (
	maxPasswordChecks = 2
	passwordCheckWait = 5 * time.Second
)

// authenticate checks a user name and password. An unknown user name is
// checked against the configuration's dummy hash, which costs what a
// known one costs, so that a wrong name and a wrong password cannot be
// told apart by time.
func (s *session) authenticate(username, password string) error {
	cfg := s.srv.config()
	h, known := cfg.hashes[username]
	if !known {
		h = cfg.dummy
	}
	if !s.srv.startCheck(cfg.checkWait) {
		return s.authRefused(username, "password checks busy", ErrAuthBusy)
	}
	ok := cfg.verify(h, password)
	if _, big := h.(argonHash); big {
		// Free the check's memory now rather than when the heap has
		// doubled: under a flood of AUTHs, the next checks reuse it and
		// the process stays near maxPasswordChecks × 64 MiB.
		runtime.GC()
	}
	s.srv.endCheck()
	if !ok || !known {
		return s.authFailed(username, "wrong user name or password")
	}
	s.user = username
	s.srv.log.Info("relay: authenticated", "client", s.ip, "user", username)
	return nil
}

// startCheck takes a password check slot, waiting at most wait; false
// means none came free.
func (s *Server) startCheck(wait time.Duration) bool {
	select {
	case s.checks <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.checks <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// endCheck gives a password check slot back.
func (s *Server) endCheck() { <-s.checks }

// authFailed refuses an AUTH with 535 after the client's failure delay.
func (s *session) authFailed(username, why string) error {
	return s.authRefused(username, why, ErrAuthFailed)
}

// authRefused delays the reply, longer with each failure from this IP,
// and returns reply.
func (s *session) authRefused(username, why string, reply error) error {
	d := s.srv.lim.authFailed(s.ip, s.srv.config().AuthFailureDelay)
	if s.c.refuse() {
		s.srv.log.Warn("relay: AUTH failed", "client", s.ip, "user", username, "reason", why, "delay", d.String())
	}
	time.Sleep(d)
	return reply
}
