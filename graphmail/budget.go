package graphmail

import "context"

// MailboxBudget keeps a mailbox's Exchange Online limits across processes
// and hosts (the process's own governor keeps them within one process):
// Acquire waits until one more message may start for mailbox — a key of
// the Graph endpoint and the address — and returns the function that
// ends it. It returns ctx.Err() if ctx ends first. *budget.Budget
// (package graphmail/budget) implements it.
type MailboxBudget interface {
	Acquire(ctx context.Context, mailbox string) (release func(), err error)
}
