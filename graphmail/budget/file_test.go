package budget

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The helper processes' settings, in the environment.
const (
	envHelper = "GRAPHMAIL_BUDGET_HELPER" // "hammer" or "hold"
	envPath   = "GRAPHMAIL_BUDGET_FILE"
	envOut    = "GRAPHMAIL_BUDGET_OUT"
)

// hammerLimits are the limits of TestFileProcesses.
var hammerLimits = Limits{PerWindow: 4, Window: 200 * time.Millisecond, InFlight: 2, Lease: 10 * time.Second}

const hammerRounds = 6

// TestHelperProcess is run by the tests below as another process, not
// by go test itself.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(envHelper) {
	case "hammer":
		// Take hammerRounds messages, holding each while its start is
		// written and synced, and write the spans to envOut.
		b := New(NewFile(os.Getenv(envPath), FileOptions{}), hammerLimits, Options{})
		var out bytes.Buffer
		for range hammerRounds {
			release, err := b.Acquire(context.Background(), "mailbox")
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			f, err := os.CreateTemp(filepath.Dir(os.Getenv(envOut)), "work")
			if err == nil {
				fmt.Fprintln(f, start)
				f.Sync()
				f.Close()
				os.Remove(f.Name())
			}
			end := time.Now()
			release()
			fmt.Fprintf(&out, "%d %d\n", start.UnixNano(), end.UnixNano())
		}
		if err := os.WriteFile(os.Getenv(envOut), out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	case "hold":
		// Take a message, say so, and hold it until killed.
		b := New(NewFile(os.Getenv(envPath), FileOptions{}), Limits{InFlight: 1, Lease: time.Hour}, Options{})
		if _, err := b.Acquire(context.Background(), "mailbox"); err != nil {
			t.Fatal(err)
		}
		fmt.Println("held")
		select {}
	default:
		t.Skip("run by other tests as a helper process")
	}
}

// helper returns the command that runs TestHelperProcess as mode.
func helper(t *testing.T, mode, path, out string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path, envOut+"="+out)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestFileProcesses has several processes share one File and checks that
// what they sent together kept to the limits.
func TestFileProcesses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test helper holds no lock on Windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "budget.json")
	const procs = 5
	var cmds []*exec.Cmd
	for i := range procs {
		cmd := helper(t, "hammer", path, filepath.Join(dir, "out"+strconv.Itoa(i)))
		cmd.Stdout = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	var spans []span
	for i := range procs {
		b, err := os.ReadFile(filepath.Join(dir, "out"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			var s, e int64
			if _, err := fmt.Sscan(line, &s, &e); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			spans = append(spans, span{start: time.Unix(0, s), end: time.Unix(0, e)})
		}
	}
	if len(spans) != procs*hammerRounds {
		t.Fatalf("%d messages recorded, want %d", len(spans), procs*hammerRounds)
	}
	if err := checkSpans(hammerLimits, spans); err != nil {
		t.Error(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("budget file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestFileDeadHolder kills a process holding the only slot and checks
// that the slot is free at once: its pid is gone.
func TestFileDeadHolder(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && !strings.HasSuffix(runtime.GOOS, "bsd") {
		t.Skip("no process liveness check here")
	}
	path := filepath.Join(t.TempDir(), "budget.json")
	cmd := helper(t, "hold", path, "")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "held" {
	}
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	l := Limits{InFlight: 1, Lease: time.Hour}
	f := NewFile(path, FileOptions{})
	// The slot is held: a Take is refused.
	var took bool
	if err := f.Update(t.Context(), "mailbox", func(s State) (State, error) {
		_, took, _ = s.Take(time.Now(), l, Entry{ID: "probe"})
		return s, ErrNoChange
	}); err != nil || took {
		t.Fatalf("while held: Update = %v, took = %v; want a refusal", err, took)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// Its lease runs for an hour, but its process is gone.
	release, err := New(f, l, Options{}).Acquire(t.Context(), "mailbox")
	if err != nil {
		t.Fatal(err)
	}
	release()
}

// TestFileLapsedLease checks that an entry of another host counts until
// its lease ends.
func TestFileLapsedLease(t *testing.T) {
	f := NewFile(filepath.Join(t.TempDir(), "budget.json"), FileOptions{})
	l := Limits{InFlight: 1}
	expires := time.Now().Add(100 * time.Millisecond)
	if err := f.Update(t.Context(), "mailbox", func(s State) (State, error) {
		return State{Entries: []Entry{{ID: "x", Holder: "elsewhere pid 1", Start: time.Now(), Expires: expires}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	release, err := New(f, l, Options{}).Acquire(t.Context(), "mailbox")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if now := time.Now(); now.Before(expires) {
		t.Errorf("acquired at %v, before the other host's lease ended at %v", now, expires)
	}
}

// logTo returns a logger writing text to buf.
func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

func TestFileProblems(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "budget.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f := NewFile(path, FileOptions{Logger: logTo(&logs)})
	b := New(f, Limits{PerWindow: 10}, Options{})
	for range 2 {
		release, err := b.Acquire(t.Context(), "mailbox")
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for a corrupt file, want 1:\n%s", n, logs.String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc fileDoc
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Mailboxes["mailbox"].Entries) != 2 {
		t.Errorf("file after reset = %s (%v), want two entries", raw, err)
	}

	// A file that cannot be locked never blocks sending: one warning.
	logs.Reset()
	notDir := filepath.Join(dir, "budget.json", "x") // under a file
	b = New(NewFile(notDir, FileOptions{Logger: logTo(&logs)}), Limits{PerWindow: 1, Window: time.Hour}, Options{})
	for range 3 {
		release, err := b.Acquire(t.Context(), "mailbox")
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for an unusable path, want 1:\n%s", n, logs.String())
	}
}

func TestFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	tests := []struct {
		name    string
		dirMode os.FileMode
		want    os.FileMode
	}{
		{name: "private", dirMode: 0o700, want: 0o600},
		{name: "group-shared setgid", dirMode: 0o770 | os.ModeSetgid, want: 0o660},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(dir); fi.Mode()&os.ModeSetgid != tt.dirMode&os.ModeSetgid {
				t.Skip("cannot set the setgid bit here")
			}
			path := filepath.Join(dir, "budget.json")
			if err := NewFile(path, FileOptions{}).Update(t.Context(), "k", func(s State) (State, error) {
				return State{Entries: []Entry{{ID: "a", Start: time.Now(), Expires: time.Now().Add(time.Minute)}}}, nil
			}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + ".lock"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != tt.want {
					t.Errorf("%s: mode %v, want %v", filepath.Base(p), fi.Mode().Perm(), tt.want)
				}
			}
		})
	}
}
