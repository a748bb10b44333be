package daemon

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// TestProbesReportAFullSpool: on a real full tmpfs, after a delivery whose
// record could not be written, /readyz answers 503 naming the cause and
// /metrics shows graphmail_spool_blocked 1 and the failed writes; once
// space is freed and the record written, both are back to normal. (An
// empty file can still be created on a full tmpfs, so the writability
// check alone said "ready".)
func TestProbesReportAFullSpool(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs this test as root)")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1048576,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting the tmpfs: %v", err)
		}
	})
	dir := filepath.Join(mnt, "spool")
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := sp.Enqueue(ctx, spool.Envelope{From: "app@example.com", To: []string{"ops@example.com"}}, []byte("Subject: x\r\n\r\nbody\r\n"), spool.Meta{}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 64<<10); ; {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	sent := 0
	d := spool.DelivererFunc(func(context.Context, spool.Delivery) (spool.Receipt, error) {
		sent++
		return spool.Receipt{Path: "graph"}, nil
	})
	_, err = sp.RunOnce(ctx, d, spool.RunOptions{Workers: 1})
	var re *spool.RecordError
	if !errors.As(err, &re) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("RunOnce on a full disk = %v, want a RecordError wrapping ENOSPC", err)
	}
	if c := graphmail.ClassOf(err); c != graphmail.Transient {
		t.Fatalf("class %v, want Transient (graphmail queue run exits 75)", c)
	}

	m := NewMetrics()
	m.listening.Store(true)
	w := newTokenWatch(nil, "", 0)
	w.check(ctx)
	h := m.handler(sp, dir, w, nil)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "cannot record deliveries") || !strings.Contains(body, "no space left on device") {
		t.Fatalf("/readyz on a full spool = %d %q", code, body)
	}
	_, body = get("/metrics")
	if !strings.Contains(body, "\ngraphmail_spool_blocked 1\n") || strings.Contains(body, "\ngraphmail_spool_write_errors_total 0\n") {
		t.Fatalf("/metrics on a full spool:\n%s", body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.RunOnce(ctx, d, spool.RunOptions{Workers: 1}); err != nil {
		t.Fatalf("RunOnce after space was freed = %v", err)
	}
	if sent != 1 {
		t.Fatalf("the message was sent %d times", sent)
	}
	if code, body := get("/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("/readyz after space was freed = %d %q", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "\ngraphmail_spool_blocked 0\n") {
		t.Fatalf("/metrics after space was freed:\n%s", body)
	}
}
