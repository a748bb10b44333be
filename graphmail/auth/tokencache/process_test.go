package tokencache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// Environment of TestHelperProcess.
const (
	helperEnv     = "GRAPHMAIL_TOKENCACHE_HELPER" // "1" in a helper process
	helperPathEnv = "GRAPHMAIL_TOKENCACHE_PATH"
	helperIDEnv   = "GRAPHMAIL_TOKENCACHE_ID"
	helperCycles  = 5
	helperCred    = "helper-credential"
)

// TestConcurrentProcesses runs 20 processes at once (this test binary,
// re-executed), each doing Replace+Export cycles that store its own entry
// with a new value each time, the way MSAL does on a cache miss. At the end
// the file must decrypt and hold every process's last value: nothing
// corrupt, nothing lost.
func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	const procs = 20
	path := cachePath(t)
	if _, err := New(Options{Path: path, Credential: []byte(helperCred), TenantID: "t", ClientID: "c"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, procs)
	outs := make([][]byte, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=1", helperPathEnv+"="+path, helperIDEnv+"="+strconv.Itoa(i))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			errs[i] = cmd.Wait()
			outs[i] = out.Bytes()
		})
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil || bytes.Contains(outs[i], []byte("level=WARN")) {
			t.Errorf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	d := decryptFile(t, path, helperCred, "t", "c")
	if got := len(d["AccessToken"]); got != procs {
		t.Errorf("file holds %d entries, want %d", got, procs)
	}
	for i := range procs {
		want := helperValue(i, helperCycles-1)
		if got := string(d["AccessToken"][helperKey(i)]); got != want {
			t.Errorf("entry of process %d = %s, want %s", i, got, want)
		}
	}
}

func helperKey(id int) string { return fmt.Sprintf("proc-%02d", id) }

func helperValue(id, cycle int) string {
	return fmt.Sprintf(`{"secret":"p%d-c%d","expires_on":"4102444800"}`, id, cycle) // 2100
}

// TestHelperProcess is one process of TestConcurrentProcesses; it does
// nothing unless started by it.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestConcurrentProcesses")
	}
	id, err := strconv.Atoi(os.Getenv(helperIDEnv))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{
		Path:        os.Getenv(helperPathEnv),
		Credential:  []byte(helperCred),
		TenantID:    "t",
		ClientID:    "c",
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
		LockTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := &fakeMSAL{}
	for cycle := range helperCycles {
		if err := c.Replace(ctx, m, cache.ReplaceHints{}); err != nil {
			t.Fatalf("Replace: %v", err)
		}
		// Check what was loaded is whole: every entry is valid JSON.
		for k, v := range m.data["AccessToken"] {
			if !json.Valid(v) {
				t.Fatalf("entry %s is not valid JSON", k)
			}
		}
		m.set("AccessToken", helperKey(id), helperValue(id, cycle))
		if err := c.Export(ctx, m, cache.ExportHints{}); err != nil {
			t.Fatalf("Export: %v", err)
		}
	}
}
