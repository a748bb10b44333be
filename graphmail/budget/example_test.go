package budget_test

import (
	"context"
	"fmt"
	"time"

	"github.com/graphmail/graphmail/graphmail/budget"
)

func ExampleNew() {
	// Every participant uses the same Store: here one in memory; a File
	// next to the token cache for the processes of a host.
	store := new(budget.Memory)
	b := budget.New(store, budget.Limits{PerWindow: 30, Window: time.Minute, InFlight: 4}, budget.Options{})

	release, err := b.Acquire(context.Background(), "https://graph.microsoft.com sender@example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	// ... send the message ...
	release()

	st := store.State("https://graph.microsoft.com sender@example.com")
	fmt.Println(len(st.Entries), "message in the window, ended:", !st.Entries[0].End.IsZero())
	// Output: 1 message in the window, ended: true
}
