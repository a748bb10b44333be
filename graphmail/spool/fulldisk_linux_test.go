package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a new temporary directory and
// unmounts it when the test ends. It skips the test where that is not
// possible (not root, or no mount permission in a container).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs this test as root)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+itoa(size)+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the tmpfs: %v", err)
		}
	})
	return dir
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// fill writes name until the file system is full.
func fill(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			return
		}
	}
}

// TestFullTmpfs runs the spool on a real, full tmpfs: each message is
// delivered at most once while no record can be written, Health says why,
// and once space is freed the records are written and the rest delivered,
// each message exactly once.
func TestFullTmpfs(t *testing.T) {
	for _, run := range []string{"Run", "RunOnce"} {
		t.Run(run, func(t *testing.T) {
			mnt := mountTmpfs(t, 1<<20)
			s := mustOpen(t, filepath.Join(mnt, "spool"), Options{})
			body := strings.Repeat("a scanned page\r\n", 128)
			var ids []ID
			for i := range 6 {
				ids = append(ids, mustEnqueue(t, s, "Subject: scan "+itoa(i)+"\r\n\r\n"+body))
			}
			filler := filepath.Join(mnt, "filler")
			fill(t, filler)
			if _, err := s.Enqueue(context.Background(), Envelope{From: "a@example.com", To: []string{"b@example.com"}}, []byte(body), Meta{}); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Enqueue on a full disk = %v, want ENOSPC", err)
			}
			const workers = 2
			d := newCountingDeliverer()
			o := RunOptions{Workers: workers, ScanInterval: 5 * time.Millisecond}

			var stop func()
			if run == "Run" {
				stop = runSpool(t, s, d, o)
				// Each scan retries the records once: wait for several.
				waitFor(t, "records to fail on several scans", func() bool { return s.WriteErrors() >= 10 })
			} else {
				st, err := s.RunOnce(context.Background(), d, o)
				asRecordError(t, err, syscall.ENOSPC)
				if st.Submitted < 1 || st.Submitted > workers || st.Submitted+st.NotAttempted != len(ids) {
					t.Fatalf("RunOnce on a full disk: %+v", st)
				}
				for range 3 {
					if _, err := s.RunOnce(context.Background(), d, o); err == nil {
						t.Fatal("RunOnce on a full disk succeeded")
					}
				}
			}
			sent := d.total()
			if sent < 1 || sent > workers {
				t.Fatalf("%d deliveries on a full disk, want 1 to %d (those in flight)", sent, workers)
			}
			for _, id := range ids {
				if n := d.count(id); n > 1 {
					t.Fatalf("%s delivered %d times on a full disk", id, n)
				}
			}
			re := asRecordError(t, s.Health(), syscall.ENOSPC)
			if re.Unrecorded != sent {
				t.Fatalf("Health: %d unrecorded, %d delivered", re.Unrecorded, sent)
			}
			t.Logf("full disk: %d deliveries, %d failed record writes; Health: %v", sent, s.WriteErrors(), re)

			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			if run == "Run" {
				waitFor(t, "every message", func() bool { return d.total() == len(ids) && s.Health() == nil })
				stop()
			} else if st, err := s.RunOnce(context.Background(), d, o); err != nil || st.Submitted != len(ids)-sent || st.Queued != 0 {
				t.Fatalf("RunOnce after space was freed = %+v, %v", st, err)
			}
			if err := s.Health(); err != nil {
				t.Fatalf("Health after space was freed = %v", err)
			}
			for _, id := range ids {
				if n := d.count(id); n != 1 {
					t.Errorf("%s delivered %d times", id, n)
				}
				it, _, err := s.Show(id)
				if err != nil || it.State != StateDone || it.Meta.Submitted == nil || it.Meta.Submitted.Receipt.RequestID != "req-"+string(id) {
					t.Errorf("Show(%s) = %+v, %v", id, it, err)
				}
			}
		})
	}
}
