package setup

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/budget"
)

// mailboxConcurrency is Exchange Online's limit of messages in flight per
// app and mailbox, kept across the host's processes.
const mailboxConcurrency = 4

// BudgetPath is the budget file of cfg (limits.budget_file), or "" when
// there is none. Its default follows the token cache: budget.json in the
// directory of token_cache.path, and none when token_cache.path is
// "none" (a host that keeps nothing on disk).
func BudgetPath(cfg *config.Config) string {
	p := cfg.Limits.BudgetFile
	if cfg.Sources["limits.budget_file"] == config.SourceDefault {
		switch tc := cfg.TokenCache.Path; {
		case tc == "none":
			return ""
		case tc != "" && cfg.Sources["token_cache.path"] != config.SourceDefault:
			p = filepath.Join(filepath.Dir(tc), "budget.json")
		}
	}
	if p == "none" {
		return ""
	}
	return p
}

// newBudget returns the budget that the processes of the host share
// through limits.budget_file, or nil when it is "none".
func newBudget(cfg *config.Config, log *slog.Logger) graphmail.MailboxBudget {
	path := BudgetPath(cfg)
	if path == "" {
		return nil
	}
	store := budget.NewFile(path, budget.FileOptions{Logger: log})
	return budget.New(store, budget.Limits{PerWindow: cfg.Limits.MessagesPerMinute, InFlight: mailboxConcurrency}, budget.Options{Logger: log})
}

// switchBudget is the budget the Stack's Graph client waits for: the
// host's (Stack.Budget, possibly none) until UseBudgetStore moves every
// later message to a store shared wider, such as the KV bucket of the
// relays on a NATS stream.
type switchBudget struct {
	local  graphmail.MailboxBudget
	limits budget.Limits
	log    *slog.Logger

	mu     sync.RWMutex
	shared graphmail.MailboxBudget
}

func (s *switchBudget) Acquire(ctx context.Context, mailbox string) (func(), error) {
	s.mu.RLock()
	b := s.shared
	s.mu.RUnlock()
	if b == nil {
		b = s.local
	}
	if b == nil {
		return func() {}, nil
	}
	return b.Acquire(ctx, mailbox)
}

// UseBudgetStore makes the Stack's Graph client keep each mailbox's budget
// (limits.messages_per_minute, 4 in flight) in store from now on, shared
// with every process that uses the same store — the relays of one NATS
// stream — instead of the host's budget file. A message in flight keeps
// what it took. It does nothing for a dry run.
func (a *Stack) UseBudgetStore(store budget.Store) {
	if a.budgetSwitch == nil {
		return
	}
	b := budget.New(store, a.budgetSwitch.limits, budget.Options{Logger: a.Log})
	a.budgetSwitch.mu.Lock()
	a.budgetSwitch.shared = b
	a.budgetSwitch.mu.Unlock()
}
