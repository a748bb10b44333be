package relay

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"
)

// Hashes with cheap parameters, from the reference CLI (see
// TestPasswordHashes): the dummy copies them, so checking it stays cheap.
const (
	argonSmall  = "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$bNSenaExtJgdIzXihZKBTbBaAksEV6TLji6KTHjm2lA" // "pw"
	argonSmall2 = "$argon2id$v=19$m=8192,t=3,p=2$c29tZXNhbHRzYWx0$TxhzXx/IlID/uWTDWgWuYRFp/Olt2LYHefdpbqv2qrs"
)

func TestDummyHash(t *testing.T) {
	bc := bcryptOf(t, "pw") // cost 4
	tests := []struct {
		name     string
		accounts map[string]string
		want     string // argon2id "m,t,p,keylen" or "bcrypt cost"
	}{
		{"argon2id account", map[string]string{"a": argonSmall}, "argon2id 1024,2,1,32"},
		{"first argon2id account by name", map[string]string{"b": argonSmall, "a": argonSmall2}, "argon2id 8192,3,2,32"},
		{"argon2id wins over bcrypt", map[string]string{"a": bc, "z": argonSmall}, "argon2id 1024,2,1,32"},
		{"bcrypt accounts", map[string]string{"a": bc}, "bcrypt 4"},
		{"no accounts: HashPassword's parameters", nil, "argon2id 65536,3,4,32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hashes := map[string]hash{}
			for u, s := range tt.accounts {
				h, err := parseHash(s)
				if err != nil {
					t.Fatal(err)
				}
				hashes[u] = h
			}
			d := dummyFor(hashes)
			var got string
			switch h := d.(type) {
			case argonHash:
				got = fmtArgon(h)
			case bcryptHash:
				cost, err := bcrypt.Cost(h)
				if err != nil {
					t.Fatalf("dummy %q: %v", h, err)
				}
				got = "bcrypt " + strconv.Itoa(cost)
				// The whole computation runs: a mismatch, not a parse error.
				if err := bcrypt.CompareHashAndPassword(h, []byte("pw")); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
					t.Fatalf("checking the dummy: %v, want a mismatch", err)
				}
				if _, err := parseHash(string(h)); err != nil {
					t.Fatalf("dummy %q does not parse: %v", h, err)
				}
			}
			if got != tt.want {
				t.Fatalf("dummy = %s, want %s", got, tt.want)
			}
			if tt.want != "argon2id 65536,3,4,32" && d.verify("pw") {
				t.Fatal("the dummy matches a password")
			}
			if again := dummyFor(hashes); fmtHash(again) == fmtHash(d) {
				t.Fatal("two dummies are equal: salt and key are not random")
			}
		})
	}
}

func fmtArgon(h argonHash) string {
	return "argon2id " + strconv.Itoa(int(h.memory)) + "," + strconv.Itoa(int(h.time)) + "," + strconv.Itoa(int(h.threads)) + "," + strconv.Itoa(len(h.key))
}

func fmtHash(h hash) string {
	switch h := h.(type) {
	case argonHash:
		return fmtArgon(h) + string(h.salt) + string(h.key)
	case bcryptHash:
		return string(h)
	}
	return ""
}

// TestUnknownUserChecksPassword: a wrong user name runs the same password
// check as a wrong password, against a dummy with the account's
// parameters, so the two cannot be told apart by time.
func TestUnknownUserChecksPassword(t *testing.T) {
	var mu sync.Mutex
	var checked []hash
	ts := start(t, Options{
		Accounts: map[string]Account{"app": {PasswordHash: argonSmall, AllowedFrom: []string{"@example.com"}}},
		verify: func(h hash, pw string) bool {
			mu.Lock()
			checked = append(checked, h)
			mu.Unlock()
			return h.verify(pw)
		},
	})
	for _, tt := range []struct {
		user string
		cl   sasl.Client
	}{
		{"app", sasl.NewPlainClient("", "app", "wrong")},
		{"ghost", sasl.NewPlainClient("", "ghost", "pw")},
		{"ghost", sasl.NewLoginClient("ghost", "pw")},
	} {
		if err := ts.dial(t).Auth(tt.cl); code(err) != 535 {
			t.Fatalf("AUTH as %s = %v, want 535", tt.user, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(checked) != 3 {
		t.Fatalf("%d password checks for 3 failed AUTHs, want one each", len(checked))
	}
	real := fmtArgon(ts.config().hashes["app"].(argonHash))
	for i, h := range checked[1:] {
		a, ok := h.(argonHash)
		if !ok || fmtArgon(a) != real {
			t.Errorf("unknown user %d checked against %T %v, want argon2id with the account's parameters %s", i+1, h, h, real)
		}
		if fmtHash(h) == fmtHash(ts.config().hashes["app"]) {
			t.Errorf("unknown user %d checked against the account's own hash", i+1)
		}
	}
}

// checkGate holds every password check until the test releases it and
// records how many ran at once.
type checkGate struct {
	active, peak atomic.Int32
	entered      chan struct{}
	release      chan struct{}
}

func newCheckGate(n int) *checkGate {
	return &checkGate{entered: make(chan struct{}, n), release: make(chan struct{})}
}

func (g *checkGate) verify(h hash, pw string) bool {
	n := g.active.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.entered <- struct{}{}
	<-g.release
	g.active.Add(-1)
	return false
}

// authAll runs n AUTH attempts with a wrong password at once, each on
// its own connection, and returns their reply codes on a channel.
func authAll(t *testing.T, ts *testServer, n int) <-chan int {
	codes := make(chan int, n)
	for range n {
		c := ts.dial(t)
		go func() { codes <- code(c.Auth(sasl.NewPlainClient("", "app", "wrong"))) }()
	}
	return codes
}

func TestPasswordChecksBounded(t *testing.T) {
	const bound, attempts = 2, 24
	accounts := map[string]Account{"app": {PasswordHash: argonSmall, AllowedFrom: []string{"@example.com"}}}

	t.Run("attempts wait for a slot", func(t *testing.T) {
		g := newCheckGate(attempts)
		ts := start(t, Options{Accounts: accounts, MaxConnsPerClient: attempts, maxChecks: bound, checkWait: time.Hour, verify: g.verify})
		codes := authAll(t, ts, attempts)
		for range bound {
			<-g.entered
		}
		if n := g.active.Load(); n != bound {
			t.Fatalf("%d checks running, want %d", n, bound)
		}
		// Let them through one at a time; each release makes room for
		// one waiting attempt.
		go func() {
			for range attempts {
				g.release <- struct{}{}
			}
		}()
		for range attempts {
			if c := <-codes; c != 535 {
				t.Errorf("AUTH = %d, want 535", c)
			}
		}
		if p := g.peak.Load(); p != bound {
			t.Fatalf("peak of %d password checks at once, want %d", p, bound)
		}
		t.Logf("%d parallel AUTH attempts: peak %d concurrent password checks", attempts, g.peak.Load())
	})

	t.Run("no slot within the wait gives 454 and counts as a failure", func(t *testing.T) {
		g := newCheckGate(attempts)
		ts := start(t, Options{Accounts: accounts, MaxConnsPerClient: attempts, maxChecks: bound, checkWait: time.Nanosecond, verify: g.verify})
		held := authAll(t, ts, bound)
		for range bound {
			<-g.entered
		}
		const busy = 5
		codes := authAll(t, ts, busy)
		for range busy {
			if c := <-codes; c != 454 {
				t.Fatalf("AUTH with every slot taken = %d, want 454", c)
			}
		}
		if n := failuresOf(ts, "127.0.0.1"); n != busy {
			t.Fatalf("%d failures counted for the client, want %d", n, busy)
		}
		for range bound {
			g.release <- struct{}{}
			if c := <-held; c != 535 {
				t.Fatalf("held AUTH = %d, want 535", c)
			}
		}
		if p := g.peak.Load(); p != bound {
			t.Fatalf("peak of %d password checks at once, want %d", p, bound)
		}
	})
}

func failuresOf(ts *testServer, ip string) int {
	ts.lim.mu.Lock()
	defer ts.lim.mu.Unlock()
	for a, f := range ts.lim.failures {
		if a.String() == ip {
			return f.n
		}
	}
	return 0
}
