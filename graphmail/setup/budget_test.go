package setup_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/setup"
)

func TestBudgetPath(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "XDG_CACHE_HOME" {
			return "/cache", true
		}
		return "", false
	}
	tests := []struct {
		name string
		set  map[string]any
		want string
	}{
		{name: "default: beside the default token cache", want: "/cache/graphmail/budget.json"},
		{name: "beside a token cache set explicitly", set: map[string]any{"token_cache.path": "/srv/gm/tokens.bin"}, want: "/srv/gm/budget.json"},
		{name: "none with the token cache", set: map[string]any{"token_cache.path": "none"}, want: ""},
		{name: "set explicitly", set: map[string]any{"token_cache.path": "none", "limits.budget_file": "/run/gm/b.json"}, want: "/run/gm/b.json"},
		{name: "none", set: map[string]any{"limits.budget_file": "none"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(config.Options{Overrides: tt.set, LookupEnv: env, SearchPaths: []string{}, Geteuid: func() int { return 1000 }})
			if err != nil {
				t.Fatal(err)
			}
			if got := setup.BudgetPath(cfg); got != tt.want {
				t.Errorf("BudgetPath = %q, want %q", got, tt.want)
			}
		})
	}
}

// countingBudget counts the messages that asked for it.
type countingBudget struct{ n int }

func (b *countingBudget) Acquire(ctx context.Context, mailbox string) (func(), error) {
	b.n++
	return func() {}, nil
}

// TestNewBudget: a stack shares the mailbox's budget through
// limits.budget_file, created 0600 at the first message, and
// Options.Budget replaces it.
func TestNewBudget(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	settings := tenantSettings(t, srv)
	path := filepath.Join(t.TempDir(), "budget.json")
	settings["limits.budget_file"] = path
	cfg := load(t, settings)
	msg := func() *graphmail.Message {
		return &graphmail.Message{To: []graphmail.Address{{Address: "a@example.com"}}, Subject: "s", Text: "t"}
	}

	st, err := setup.New(cfg, nil, setup.Options{Policy: graphmail.PolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Budget == nil {
		t.Fatal("no budget")
	}
	if _, err := st.Mail.Send(context.Background(), msg()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the budget file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("budget file mode %v, want 0600", fi.Mode().Perm())
	}

	cb := &countingBudget{}
	st2, err := setup.New(cfg, nil, setup.Options{Policy: graphmail.PolicyNever, Budget: cb, Tokens: st.Tokens})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := st2.Mail.Send(context.Background(), msg()); err != nil {
		t.Fatal(err)
	}
	if cb.n != 1 || st2.Budget != graphmail.MailboxBudget(cb) {
		t.Errorf("Options.Budget asked %d times (stack's %v), want once", cb.n, st2.Budget)
	}

	dry, err := setup.New(cfg, nil, setup.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dry.Close()
	if dry.Budget != nil {
		t.Errorf("a dry run has a budget: %v", dry.Budget)
	}
}
