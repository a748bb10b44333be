package smtpfallback

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestReuse(t *testing.T) {
	tokens := &fakeTokens{tokens: []string{"tok-1"}}
	c, srv := scriptedClient(t, tokens, nil, join(greetTLS, auth1, mail1, reset, mail1))
	for i := range 2 {
		r, err := c.Send(context.Background(), testEnv, testMIME)
		if err != nil {
			t.Fatalf("Send #%d: %s", i+1, errString(err))
		}
		if r.Attempts != 1 {
			t.Errorf("Send #%d: Attempts = %d, want 1", i+1, r.Attempts)
		}
	}
	c.Close()
	srv.wait()
	if srv.dials != 1 || len(tokens.calls()) != 1 {
		t.Errorf("dials = %d, token calls = %d; want 1 and 1", srv.dials, len(tokens.calls()))
	}
}

func TestReuseDeadConnection(t *testing.T) {
	tokens := &fakeTokens{tokens: []string{"tok-1"}}
	c, srv := scriptedClient(t, tokens, nil,
		join(greetTLS, auth1, mail1, script{"CLOSE"}),
		join(greetTLS, auth1, mail1))
	if _, err := c.Send(context.Background(), testEnv, testMIME); err != nil {
		t.Fatal(err)
	}
	r, err := c.Send(context.Background(), testEnv, testMIME)
	if err != nil {
		t.Fatalf("second Send: %s", errString(err))
	}
	if r.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2 (dead pooled connection, then a new one)", r.Attempts)
	}
	c.Close()
	srv.wait()
}

func TestIdleExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tokens := &fakeTokens{tokens: []string{"tok-1"}}
	c, srv := scriptedClient(t, tokens, func(cfg *Config) { cfg.Now = clock },
		join(greetTLS, auth1, mail1), // then QUIT when found stale
		join(greetTLS, auth1, mail1))
	if _, err := c.Send(context.Background(), testEnv, testMIME); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * DefaultIdleTimeout)
	mu.Unlock()
	r, err := c.Send(context.Background(), testEnv, testMIME)
	if err != nil {
		t.Fatalf("second Send: %s", errString(err))
	}
	if r.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1 (stale connection dropped without trying it)", r.Attempts)
	}
	c.Close()
	srv.wait()
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name      string
		script    script
		edit      func(*Config)
		cancel    bool // cancel the context once the server hangs
		wantStage string
		check     func(t *testing.T, err error)
	}{
		{
			name:      "no greeting: command timeout",
			script:    script{"HANG"},
			edit:      func(c *Config) { c.CommandTimeout = 200 * time.Millisecond },
			wantStage: StageConnect,
			check: func(t *testing.T, err error) {
				var ne *NetError
				if !errors.As(err, &ne) || !ne.Timeout() || !Temporary(err) {
					t.Errorf("err = %s, want a temporary timeout", errString(err))
				}
			},
		},
		{
			name:      "no reply to AUTH: command timeout",
			script:    join(greetTLS, script{"C: AUTH XOAUTH2", "HANG"}),
			edit:      func(c *Config) { c.CommandTimeout = 300 * time.Millisecond },
			wantStage: StageAuth,
			check: func(t *testing.T, err error) {
				var ne *NetError
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("err = %s, want a timeout", errString(err))
				}
			},
		},
		{
			name:      "no final reply to DATA: data timeout",
			script:    join(greetTLS, auth1, mail1[:len(mail1)-1], script{"HANG"}),
			edit:      func(c *Config) { c.DataTimeout = 300 * time.Millisecond },
			wantStage: StageData,
			check: func(t *testing.T, err error) {
				var ne *NetError
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("err = %s, want a timeout", errString(err))
				}
			},
		},
		{
			name:      "context cancelled while waiting for the greeting",
			script:    script{"HANG"},
			edit:      func(c *Config) { c.CommandTimeout = time.Minute },
			cancel:    true,
			wantStage: StageConnect,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %s, want context.Canceled", errString(err))
				}
			},
		},
		{
			name:      "context cancelled during DATA",
			script:    join(greetTLS, auth1, mail1[:len(mail1)-1], script{"HANG"}),
			edit:      func(c *Config) { c.DataTimeout = time.Minute },
			cancel:    true,
			wantStage: StageData,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %s, want context.Canceled", errString(err))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := scriptedClient(t, &fakeTokens{tokens: []string{"tok-1"}}, tt.edit, tt.script)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				go func() {
					select {
					case <-srv.hung:
						cancel()
					case <-ctx.Done():
					}
				}()
			}
			start := time.Now()
			_, err := c.Send(ctx, testEnv, testMIME)
			// Far above the short timeouts, far below the minute-long
			// ones the cancel cases set (a loaded machine is slow, not
			// that slow): the short timeout or the cancel ended Send.
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("Send took %v", took)
			}
			if err == nil {
				t.Fatal("Send succeeded")
			}
			var ne *NetError
			if errors.As(err, &ne) && ne.Stage != tt.wantStage {
				t.Errorf("stage = %q, want %q (%v)", ne.Stage, tt.wantStage, err)
			}
			tt.check(t, err)
			c.Close()
			srv.wait()
		})
	}
}

// TestWaitForFreeConnection: with MaxConns 1 busy, a second Send waits and
// gives up with its context.
func TestWaitForFreeConnection(t *testing.T) {
	c, srv := scriptedClient(t, &fakeTokens{tokens: []string{"tok-1"}},
		func(c *Config) { c.MaxConns = 1; c.DataTimeout = time.Minute },
		join(greetTLS, auth1, mail1[:len(mail1)-1], script{"HANG"}))
	ctx1, cancel1 := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.Send(ctx1, testEnv, testMIME)
		done <- err
	}()
	<-srv.hung // the first Send holds the only slot until it is cancelled
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err := c.Send(ctx2, testEnv, testMIME)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Send: %s, want context.DeadlineExceeded", errString(err))
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("second Send took %v", took)
	}
	cancel1()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("first Send: %s, want context.Canceled", errString(err))
	}
	c.Close()
	srv.wait()
}

func TestTokenError(t *testing.T) {
	provider := &providerError{code: "AADSTS7000215"}
	c, srv := scriptedClient(t, &fakeTokens{err: provider}, nil)
	_, err := c.Send(context.Background(), testEnv, testMIME)
	var te *TokenError
	var pe *providerError
	if !errors.As(err, &te) || !errors.As(err, &pe) || pe.code != "AADSTS7000215" {
		t.Errorf("err = %s, want *TokenError wrapping *providerError", errString(err))
	}
	if Temporary(err) {
		t.Error("Temporary = true, want false")
	}
	c.Close()
	srv.wait()
}

type providerError struct{ code string }

func (e *providerError) Error() string { return "provider: " + e.code }

func TestSendValidation(t *testing.T) {
	c, srv := scriptedClient(t, &fakeTokens{tokens: []string{"tok-1"}}, nil)
	tests := []struct {
		env  Envelope
		mime []byte
		want error
	}{
		{Envelope{To: []string{"a@b"}}, testMIME, ErrInvalidEnvelope},
		{Envelope{From: mailbox}, testMIME, ErrInvalidEnvelope},
		{Envelope{From: mailbox, To: []string{"a@b\r\nRCPT TO:<c@d>"}}, testMIME, ErrInvalidEnvelope},
		{Envelope{From: mailbox, To: []string{"<a@b>"}}, testMIME, ErrInvalidEnvelope},
		{testEnv, nil, ErrEmptyMessage},
	}
	for _, tt := range tests {
		if _, err := c.Send(context.Background(), tt.env, tt.mime); !errors.Is(err, tt.want) {
			t.Errorf("Send(%+v) = %v, want %v", tt.env, err, tt.want)
		}
	}
	c.Close()
	if _, err := c.Send(context.Background(), testEnv, testMIME); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	srv.wait()
}

func TestNewValidation(t *testing.T) {
	tok := &fakeTokens{tokens: []string{"t"}}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no host", Config{Tokens: tok}},
		{"no tokens", Config{Host: "h"}},
		{"insecure", Config{Host: "h", Tokens: tok, TLSConfig: &tls.Config{InsecureSkipVerify: true}}},
		{"bad port", Config{Host: "h", Tokens: tok, Port: 70000}},
		{"bad local name", Config{Host: "h", Tokens: tok, LocalName: "a b"}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	c, err := New(Config{Host: "smtp.office365.com", Tokens: tok})
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "smtp.office365.com:587" || c.cfg.TLSConfig.ServerName != "smtp.office365.com" || c.cfg.MaxConns != 3 {
		t.Errorf("defaults: addr %q, ServerName %q, MaxConns %d", c.addr, c.cfg.TLSConfig.ServerName, c.cfg.MaxConns)
	}
}

func TestWireSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"a\r\nb\r\n", 6},
		{"a\nb\n", 6},
		{"a\nb", 6},
		{"a\r\nb\n", 6},
	}
	for _, tt := range tests {
		if got := wireSize([]byte(tt.in)); got != tt.want {
			t.Errorf("wireSize(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
