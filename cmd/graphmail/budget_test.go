package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestBudgetAcrossProcesses: 20 graphmail send processes at once, as a
// cron burst, share the mailbox's 4 messages in flight through the budget
// file beside the token cache: the fake never sees more than 4 requests
// of the mailbox at once and throttles none. Without the file
// (limits.budget_file: none) the same burst is throttled, so the test
// would catch a budget that let more through.
func TestBudgetAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it many times")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		budgetFile   string // "" the default
		wantThrottle bool
	}{
		{name: "shared budget file"},
		{name: "no budget file", budgetFile: "none", wantThrottle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := graphmailtest.NewServer(graphmailtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			dir := t.TempDir()
			config := filepath.Join(dir, "graphmail.yaml")
			extra := map[string]any{"smtp.fallback": "never", "retry.max_attempts": 10, "retry.max_elapsed": "10m"}
			if tt.budgetFile != "" {
				extra["limits.budget_file"] = tt.budgetFile
			}
			if err := writeSandboxFiles(srv, config, extra); err != nil {
				t.Fatal(err)
			}
			env := []string{"HOME=" + dir, "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"), "PATH=" + os.Getenv("PATH")}
			mailbox := srv.Mailboxes()[0]

			// The fake holds the requests it admits until the limit is
			// reached (and, without the budget, until it turned one
			// away): they overlap however slowly the processes start.
			release := srv.HoldGraph()
			defer release()
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs []string
			)
			for i := range 20 {
				cmd := exec.Command(bin, "send", "--config", config, "--to", "you@example.com", "--subject", fmt.Sprint("burst ", i), "--body", "report")
				cmd.Env = env
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					if err := cmd.Wait(); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("%v\n%s", err, out.String()))
						mu.Unlock()
					}
				})
			}
			poll(t, func() string {
				return fmt.Sprintf("in flight at the fake %d, throttled %d", srv.MaxInFlight(mailbox), srv.Throttled())
			}, func(time.Time) bool {
				return srv.MaxInFlight(mailbox) >= 4 && (!tt.wantThrottle || srv.Throttled() > 0)
			})
			release()
			wg.Wait()
			for _, e := range errs {
				t.Errorf("send: %s", e)
			}
			if n := len(srv.Messages()); n != 20 {
				t.Errorf("delivered %d, want 20", n)
			}
			if got := srv.MaxInFlight(mailbox); got != 4 {
				t.Errorf("max in flight at the fake = %d, want 4", got)
			}
			if got := srv.Throttled() > 0; got != tt.wantThrottle {
				t.Errorf("throttled %d, want some: %v", srv.Throttled(), tt.wantThrottle)
			}
			if tt.wantThrottle {
				return
			}
			path := filepath.Join(dir, "cache", "graphmail", "budget.json")
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatalf("the budget file beside the token cache: %v", err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("budget file mode %v, want 0600", fi.Mode().Perm())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Mailboxes map[string]struct {
					Entries []struct {
						End time.Time `json:"end"`
					} `json:"entries"`
				} `json:"mailboxes"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("budget file: %v\n%s", err, b)
			}
			n := 0
			for _, st := range doc.Mailboxes {
				for _, e := range st.Entries {
					n++
					if e.End.IsZero() {
						t.Errorf("an entry is still in flight after every process ended:\n%s", b)
					}
				}
			}
			if n != 20 {
				t.Errorf("budget file holds %d messages, want the 20 of the last minute:\n%s", n, b)
			}
		})
	}
}
