package interop_test

// Part (b): graphmail's own SMTP fallback transport, package smtpfallback,
// against Dovecot. The same server and token rules as in dovecot_test.go.

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/smtpfallback"
)

// recordingTokens is a TokenSource that records every call and answers with
// the token returned by pick.
type recordingTokens struct {
	mu    sync.Mutex
	calls []bool // forceRefresh of each call
	pick  func(forceRefresh bool) string
}

func (r *recordingTokens) Token(ctx context.Context, forceRefresh bool) (string, error) {
	r.mu.Lock()
	r.calls = append(r.calls, forceRefresh)
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return r.pick(forceRefresh), nil
}

func (r *recordingTokens) Calls() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.calls...)
}

func newFallbackClient(t *testing.T, env *interopEnv, tokens smtpfallback.TokenSource, mutate func(*smtpfallback.Config)) *smtpfallback.Client {
	t.Helper()
	cfg := smtpfallback.Config{
		Host:           env.Host,
		Port:           env.Port,
		Username:       env.Mailbox,
		Tokens:         tokens,
		TLSConfig:      env.tlsConfig(),
		DialTimeout:    10 * time.Second,
		CommandTimeout: 30 * time.Second,
		DataTimeout:    30 * time.Second,
		LocalName:      "graphmail-interop-test.localhost",
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := smtpfallback.New(cfg)
	if err != nil {
		t.Fatalf("smtpfallback.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func sendCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSMTPFallbackAgainstDovecot(t *testing.T) {
	env := loadEnv(t)
	log := markLog(env)
	log.dumpOnFailure(t)

	t.Run("DeliversAndReusesConnection", func(t *testing.T) {
		tokens := &recordingTokens{pick: func(bool) string { return mintToken(t, env, tokenSpec{}) }}
		c := newFallbackClient(t, env, tokens, nil)
		to := []string{"rcpt-one@graphmail-interop.test", "rcpt-two@graphmail-interop.test", "bcc-only@graphmail-interop.test"}
		for i := 1; i <= 2; i++ {
			msg, marker := testMessage(env, fmt.Sprintf("smtpfallback interop #%d", i), to[:2])
			rec, err := c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: to}, msg)
			if err != nil {
				t.Fatalf("Send #%d: %v", i, err)
			}
			if rec.Attempts != 1 || rec.Reply == "" {
				t.Errorf("Send #%d: receipt %+v, want 1 attempt and the server's reply", i, rec)
			}
			t.Logf("Send #%d: %+v", i, rec)
			checkDelivered(t, waitForSink(t, env, marker), env.Mailbox, to, msg)
		}
		// The second message went over the pooled, still authenticated
		// connection (RSET + EHLO), so only one token was needed.
		if calls := tokens.Calls(); len(calls) != 1 || calls[0] {
			t.Errorf("token calls (forceRefresh per call): %v, want [false]", calls)
		}
		log.expectReason(t, "Login: user=<"+env.Mailbox+">, method=XOAUTH2")
	})

	t.Run("BareLFBecomesCRLF", func(t *testing.T) {
		tokens := &recordingTokens{pick: func(bool) string { return mintToken(t, env, tokenSpec{}) }}
		c := newFallbackClient(t, env, tokens, nil)
		to := []string{"rcpt-one@graphmail-interop.test"}
		msg, marker := testMessage(env, "smtpfallback LF-only input", to)
		lf := bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
		if _, err := c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: to}, lf); err != nil {
			t.Fatalf("Send: %v", err)
		}
		checkDelivered(t, waitForSink(t, env, marker), env.Mailbox, to, msg)
	})

	t.Run("BadTokenIs535", func(t *testing.T) {
		tokens := &recordingTokens{pick: func(bool) string {
			return mintToken(t, env, tokenSpec{Key: untrustedKey(t)})
		}}
		c := newFallbackClient(t, env, tokens, nil)
		msg, _ := testMessage(env, "must not be delivered", []string{"rcpt-one@graphmail-interop.test"})
		_, err := c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: []string{"rcpt-one@graphmail-interop.test"}}, msg)
		if err == nil {
			t.Fatal("Send with a token signed by an untrusted key succeeded")
		}
		var se *smtpfallback.SMTPError
		if !errors.As(err, &se) {
			t.Fatalf("want *smtpfallback.SMTPError, got %T: %v", err, err)
		}
		if se.Code != 535 || se.Stage != smtpfallback.StageAuth || !se.AuthFailure() {
			t.Errorf("want 535 at stage auth, got %+v", se)
		}
		if !se.FreshToken {
			t.Errorf("FreshToken not set although the forced refresh was rejected too: %+v", se)
		}
		if calls := tokens.Calls(); fmt.Sprint(calls) != "[false true]" {
			t.Errorf("token calls (forceRefresh per call): %v, want [false true]", calls)
		}
		if smtpfallback.Temporary(err) {
			t.Errorf("a 535 must not be temporary: %v", err)
		}
		if strings.Contains(err.Error(), "Bearer") || strings.Contains(err.Error(), "eyJ") {
			t.Errorf("error text leaks the token or SASL string: %v", err)
		}
		log.expectReason(t, "Bad signature")
		t.Logf("error: %v", err)
	})

	t.Run("ForcedRefreshRecovers", func(t *testing.T) {
		// The cached token has expired; the forced refresh returns a good one.
		tokens := &recordingTokens{pick: func(force bool) string {
			if force {
				return mintToken(t, env, tokenSpec{})
			}
			now := time.Now()
			return mintToken(t, env, tokenSpec{IssuedAt: now.Add(-2 * time.Hour), NotBefore: now.Add(-2 * time.Hour), Expires: now.Add(-5 * time.Minute)})
		}}
		l := markLog(env)
		c := newFallbackClient(t, env, tokens, nil)
		to := []string{"rcpt-one@graphmail-interop.test"}
		msg, marker := testMessage(env, "smtpfallback after forced refresh", to)
		rec, err := c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: to}, msg)
		if err != nil {
			t.Fatalf("Send: %v (token calls %v)", err, tokens.Calls())
		}
		if calls := tokens.Calls(); fmt.Sprint(calls) != "[false true]" {
			t.Errorf("token calls (forceRefresh per call): %v, want [false true]", calls)
		}
		t.Logf("receipt %+v", rec)
		checkDelivered(t, waitForSink(t, env, marker), env.Mailbox, to, msg)
		l.expectReason(t, "Token has expired")
	})

	t.Run("WrongAudienceNotRetriedForever", func(t *testing.T) {
		// A Graph token used for SMTP: refused by Dovecot on both tries.
		tokens := &recordingTokens{pick: func(bool) string {
			return mintToken(t, env, tokenSpec{Audience: "https://graph.microsoft.com"})
		}}
		c := newFallbackClient(t, env, tokens, nil)
		msg, _ := testMessage(env, "must not be delivered", []string{"rcpt-one@graphmail-interop.test"})
		_, err := c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: []string{"rcpt-one@graphmail-interop.test"}}, msg)
		var se *smtpfallback.SMTPError
		if !errors.As(err, &se) || se.Code != 535 {
			t.Fatalf("want *SMTPError 535, got %v", err)
		}
		if n := len(tokens.Calls()); n != 2 {
			t.Errorf("token calls: %d, want 2", n)
		}
	})

	t.Run("UntrustedServerCertificate", func(t *testing.T) {
		tokens := &recordingTokens{pick: func(bool) string { return mintToken(t, env, tokenSpec{}) }}
		c := newFallbackClient(t, env, tokens, func(cfg *smtpfallback.Config) {
			tc := env.tlsConfig()
			tc.RootCAs = x509.NewCertPool() // trusts nothing
			cfg.TLSConfig = tc
		})
		_, err := c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: []string{"rcpt-one@graphmail-interop.test"}}, []byte("Subject: x\r\n\r\nx\r\n"))
		var te *smtpfallback.TLSError
		if !errors.As(err, &te) {
			t.Fatalf("want *smtpfallback.TLSError, got %T: %v", err, err)
		}
		if n := len(tokens.Calls()); n > 1 {
			t.Errorf("token source called %d times for a connection that never got past TLS", n)
		}
	})

	t.Run("ConcurrentSends", func(t *testing.T) {
		tokens := &recordingTokens{pick: func(bool) string { return mintToken(t, env, tokenSpec{}) }}
		c := newFallbackClient(t, env, tokens, func(cfg *smtpfallback.Config) { cfg.MaxConns = 3 })
		const n = 8
		to := []string{"rcpt-one@graphmail-interop.test"}
		type sent struct {
			msg    []byte
			marker string
		}
		msgs := make([]sent, n)
		for i := range msgs {
			msgs[i].msg, msgs[i].marker = testMessage(env, fmt.Sprintf("concurrent %d", i), to)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range msgs {
			wg.Go(func() {
				_, errs[i] = c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: to}, msgs[i].msg)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		}
		if t.Failed() {
			return
		}
		for _, m := range msgs {
			checkDelivered(t, waitForSink(t, env, m.marker), env.Mailbox, to, m.msg)
		}
		if calls := len(tokens.Calls()); calls > 3 {
			t.Errorf("%d token calls for %d messages with MaxConns 3: connections are not reused", calls, n)
		}
	})
}
