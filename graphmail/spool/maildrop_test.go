//go:build unix

package spool

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDropAndPickup: Drop needs no open spool; RunOnce takes the
// submissions into the queue under the IDs Drop returned, with the
// submitter's uid, and delivers them.
func TestDropAndPickup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := mustOpen(t, dir, Options{Hostname: "relay.example"})
	// A new spool is its owner's alone; the owner may still drop.
	for _, d := range []string{"", "maildrop", "queue", "corrupt"} {
		checkMode(t, filepath.Join(dir, d), fs.ModeDir|0o700)
	}

	env := Envelope{From: "cron@example.com", To: []string{"root", "ops@example.com"}}
	a, err := Drop(dir, env, []byte("Subject: a\r\nMessage-ID: <a@example.com>\r\n\r\nbody\r\n"), DropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Drop(dir, Envelope{To: []string{"b@example.com"}}, []byte("Subject: b\r\n\r\n"), DropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, filepath.Join(dir, "maildrop", string(a)+".drop"), 0o640)
	if names := dirNames(t, filepath.Join(dir, "maildrop")); len(names) != 2 {
		t.Fatalf("maildrop/ holds %q, want the two submissions", names)
	}
	f := &fakeDeliverer{}
	st, err := s.RunOnce(context.Background(), f, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (RunStats{PickedUp: 2, Submitted: 2}); st != want {
		t.Errorf("RunOnce = %+v, want %+v", st, want)
	}
	var got []ID
	for _, d := range f.delivered() {
		got = append(got, d.ID)
		if d.ID == a && (!slices.Equal(d.Envelope.To, env.To) || d.Envelope.From != env.From || d.MessageID != "a@example.com") {
			t.Errorf("delivery of a = %+v", d)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []ID{a, b}) {
		t.Errorf("delivered %v, want %v", got, []ID{a, b})
	}
	it, _, err := s.Show(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := "maildrop uid=" + strconv.Itoa(os.Geteuid()); !strings.HasPrefix(it.Meta.Client, want) || it.Meta.Received.IsZero() || !strings.HasSuffix(it.Meta.MessageID, "@relay.example") {
		t.Errorf("meta = %+v, want Client %q…, Received, a Message-ID made up", it.Meta, want)
	}
	if names := dirNames(t, filepath.Join(dir, "maildrop")); len(names) != 0 {
		t.Errorf("maildrop/ still holds %q", names)
	}
}

// TestDropWhileRunRuns: the daemon takes a submission on its next scan.
func TestDropWhileRunRuns(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	f := &fakeDeliverer{}
	runSpool(t, s, f, RunOptions{ScanInterval: 5 * time.Millisecond})
	id, err := Drop(dir, Envelope{To: []string{"b@example.com"}}, []byte("Subject: b\r\n\r\n"), DropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { d := f.delivered(); return len(d) == 1 && d[0].ID == id })
}

func TestDropRefuses(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir, Options{})
	tests := []struct {
		name string
		env  Envelope
		raw  string
		o    DropOptions
	}{
		{"control character", Envelope{From: "me@x.com\r\nX-Injected: 1", To: []string{"b@example.com"}}, "Subject: x\r\n\r\n", DropOptions{}},
		{"too large", Envelope{To: []string{"b@example.com"}}, "Subject: x\r\n\r\n" + strings.Repeat("x", 100), DropOptions{MaxSize: 50}},
		{"too many recipients", Envelope{To: []string{"b@example.com", "c@example.com"}}, "Subject: x\r\n\r\n", DropOptions{MaxRecipients: 1}},
		{"not a message", Envelope{To: []string{"b@example.com"}}, "hello\r\n", DropOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Drop(dir, tt.env, []byte(tt.raw), tt.o)
			var ie *InvalidError
			var se *Error
			if !errors.As(err, &ie) || !errors.As(err, &se) || se.Op != "drop" {
				t.Fatalf("Drop = %v, want *Error{Op: drop} wrapping *InvalidError", err)
			}
		})
	}
	if names := dirNames(t, filepath.Join(dir, "maildrop")); len(names) != 0 {
		t.Errorf("refused submissions left %q", names)
	}
	if _, err := Drop(filepath.Join(dir, "missing"), Envelope{To: []string{"b@example.com"}}, []byte("Subject: x\r\n\r\n"), DropOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Drop into a missing spool = %v, want fs.ErrNotExist", err)
	}
}

// TestPickupQueuesOnce: a crash after the submission became queue/ID.msg
// but before it left maildrop/ does not queue it twice.
func TestPickupQueuesOnce(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	id, err := Drop(dir, Envelope{To: []string{"b@example.com"}}, []byte("Subject: b\r\n\r\n"), DropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	drop := filepath.Join(dir, "maildrop", string(id)+".drop")
	saved, err := os.ReadFile(drop)
	if err != nil {
		t.Fatal(err)
	}
	down := &fakeDeliverer{fail: func(Delivery) error { return tempErr{temp: true} }}
	if st, err := s.RunOnce(context.Background(), down, RunOptions{}); err != nil || st.PickedUp != 1 || st.Deferred != 1 {
		t.Fatalf("first RunOnce = %+v, %v", st, err)
	}
	// The state a crash between the two steps leaves: the message queued
	// and still in maildrop/.
	if err := os.WriteFile(drop, saved, 0o640); err != nil {
		t.Fatal(err)
	}
	logs := &countingHandler{}
	s2 := mustOpen(t, dir, Options{Logger: slog.New(logs)})
	if st, err := s2.RunOnce(context.Background(), down, RunOptions{}); err != nil || st.Queued != 1 {
		t.Fatalf("second RunOnce = %+v, %v", st, err)
	}
	items, err := s2.List()
	if err != nil || len(items) != 1 || items[0].ID != id || items[0].Meta.Attempts != 1 {
		t.Fatalf("List = %+v, %v; want the one message, attempted once", items, err)
	}
	if names := dirNames(t, filepath.Join(dir, "maildrop")); len(names) != 0 {
		t.Errorf("maildrop/ still holds %q", names)
	}
	if l := logs.lines(slog.LevelWarn); len(l) != 0 {
		t.Errorf("warnings: %q", l)
	}
}

// TestPickupQuarantines: whatever else is in maildrop/ (anybody can write
// there) is moved to corrupt/ with one WARN line each, and the valid
// submissions are delivered.
func TestPickupQuarantines(t *testing.T) {
	dir := t.TempDir()
	logs := &countingHandler{}
	s := mustOpen(t, dir, Options{Logger: slog.New(logs), MaxDropSize: 1000})
	md := filepath.Join(dir, "maildrop")
	good, err := Drop(dir, Envelope{To: []string{"b@example.com"}}, []byte("Subject: good\r\n\r\n"), DropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	valid, _ := encodeDrop(Envelope{To: []string{"b@example.com"}}, []byte("Subject: x\r\n\r\n"))
	name := func() string { return string(newID(time.Now())) + ".drop" }
	bad := map[string]func(p string) error{
		"symbolic link": func(p string) error {
			other := filepath.Join(t.TempDir(), "valid")
			if err := os.WriteFile(other, valid, 0o644); err != nil {
				return err
			}
			return os.Symlink(other, p)
		},
		"directory": func(p string) error { return os.Mkdir(p, 0o755) },
		"FIFO":      func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"hard link": func(p string) error {
			other := filepath.Join(dir, "tmp", "linked")
			if err := os.WriteFile(other, valid, 0o644); err != nil {
				return err
			}
			return os.Link(other, p)
		},
		"not a submission": func(p string) error { return os.WriteFile(p, []byte("From: x\r\n\r\nhi"), 0o644) },
		"truncated":        func(p string) error { return os.WriteFile(p, valid[:len(valid)-1], 0o644) },
		"control character in the envelope": func(p string) error {
			data, _ := encodeDrop(Envelope{To: []string{"b@example.com\r\nRCPT TO:<x@evil.example>"}}, []byte("Subject: x\r\n\r\n"))
			return os.WriteFile(p, data, 0o644)
		},
		"too large": func(p string) error {
			data, _ := encodeDrop(Envelope{To: []string{"b@example.com"}}, []byte("Subject: x\r\n\r\n"+strings.Repeat("x", 1000)))
			return os.WriteFile(p, data, 0o644)
		},
		"larger than any submission": func(p string) error {
			return os.WriteFile(p, []byte(strings.Repeat("x", 4<<20)), 0o644)
		},
	}
	want := map[string]bool{}
	for what, make := range bad {
		n := name()
		if err := make(filepath.Join(md, n)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want["maildrop/"+n] = true
	}
	for _, n := range []string{"README", ".hidden", "x.drop"} {
		writeFile(t, filepath.Join(md, n), "x")
		want["maildrop/"+n] = true
	}
	// A Drop in progress stays, one that died an hour ago goes.
	fresh, stale := filepath.Join(md, string(newID(time.Now()))+".tmp"), filepath.Join(md, string(newID(time.Now()))+".tmp")
	writeFile(t, fresh, "partial")
	writeFile(t, stale, "partial")
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)

	f := &fakeDeliverer{}
	ev := newEvents()
	st, err := s.RunOnce(context.Background(), f, RunOptions{OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	if st.PickedUp != 1 || st.Submitted != 1 || st.Quarantined != len(want) {
		t.Errorf("RunOnce = %+v, want 1 taken and delivered, %d quarantined", st, len(want))
	}
	if d := f.delivered(); len(d) != 1 || d[0].ID != good {
		t.Errorf("delivered %+v, want only %s", d, good)
	}
	got := map[string]bool{}
	for _, file := range ev.files(OutcomeQuarantined) {
		if got[file] {
			t.Errorf("%s reported twice", file)
		}
		got[file] = true
	}
	for file := range want {
		if !got[file] {
			t.Errorf("%s not quarantined", file)
		}
	}
	warns := logs.lines(slog.LevelWarn)
	if len(warns) != len(want) {
		t.Errorf("%d WARN and ERROR lines, want %d (one per file):\n%s", len(warns), len(want), strings.Join(warns, "\n"))
	}
	if names := dirNames(t, md); !slices.Equal(names, []string{filepath.Base(fresh)}) {
		t.Errorf("maildrop/ holds %q, want only the Drop in progress", names)
	}
	if n := len(dirNames(t, filepath.Join(dir, "corrupt"))); n != len(want) {
		t.Errorf("%d files in corrupt/, want %d", n, len(want))
	}
	// Nothing is reported again.
	if st, err := s.RunOnce(context.Background(), f, RunOptions{}); err != nil || st != (RunStats{}) {
		t.Errorf("second RunOnce = %+v, %v", st, err)
	}
	if n := len(logs.lines(slog.LevelWarn)); n != len(want) {
		t.Errorf("%d WARN and ERROR lines after a second run, want still %d", n, len(want))
	}
}

// publicMaildrop is the mode of a maildrop/ every user may submit to.
const publicMaildrop = fs.ModeDir | fs.ModeSetgid | fs.ModeSticky | 0o733

func checkMode(t *testing.T, name string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
	}
}
