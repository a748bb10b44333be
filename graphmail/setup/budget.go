package setup

import (
	"log/slog"
	"path/filepath"

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
