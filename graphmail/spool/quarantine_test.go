package spool

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestQuarantineInQueue: one unusable file in queue/, there when Run
// starts or appearing while it runs, is moved to corrupt/ with one WARN
// line and one event; Run keeps delivering the other messages and List
// keeps working, before and after.
func TestQuarantineInQueue(t *testing.T) {
	const good = "Subject: good\r\n\r\nbody\r\n"
	tests := []struct {
		name string
		// spoil puts the unusable file into queue/ and returns the name
		// that must be reported and the names that must end in corrupt/.
		spoil func(t *testing.T, s *Spool, dir string) (file string, moved []string)
		// during: spoil while Run runs instead of before it starts.
		during bool
		// delivered: the spoiled message is still delivered (a bad
		// record only).
		delivered bool
	}{
		{name: "corrupt record at start", delivered: true, spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			id := mustEnqueue(t, s, good)
			writeFile(t, filepath.Join(dir, "queue", string(id)+".meta"), "{not json")
			return "queue/" + string(id) + ".meta", []string{string(id) + ".meta"}
		}},
		{name: "record that is a directory at start", delivered: true, spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			id := mustEnqueue(t, s, good)
			mkdir(t, filepath.Join(dir, "queue", string(id)+".meta"))
			return "queue/" + string(id) + ".meta", []string{string(id) + ".meta"}
		}},
		{name: "corrupt message at start", spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			id := newID(time.Now())
			writeFile(t, filepath.Join(dir, "queue", string(id)+".msg"), "garbage")
			return "queue/" + string(id) + ".msg", []string{string(id) + ".msg"}
		}},
		{name: "truncated message with its record during Run", during: true, spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			id := newID(time.Now())
			writeMessageFile(t, dir, "tmp", id, good)
			writeRecord(t, dir, "tmp", id, Meta{MessageID: "x@test", Attempts: 1})
			p := filepath.Join(dir, "tmp", string(id)+".msg")
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-3); err != nil {
				t.Fatal(err)
			}
			// The record first: a scan in between sees an orphan, which
			// it leaves alone.
			rename(t, filepath.Join(dir, "tmp", string(id)+".meta"), filepath.Join(dir, "queue", string(id)+".meta"))
			rename(t, p, filepath.Join(dir, "queue", string(id)+".msg"))
			return "queue/" + string(id) + ".msg", []string{string(id) + ".msg", string(id) + ".meta"}
		}},
		{name: "corrupt message during Run", during: true, spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			id := newID(time.Now())
			writeFile(t, filepath.Join(dir, "tmp", "x"), "graphmail-spool 1\n{\"size\": 99}\nshort")
			rename(t, filepath.Join(dir, "tmp", "x"), filepath.Join(dir, "queue", string(id)+".msg"))
			return "queue/" + string(id) + ".msg", []string{string(id) + ".msg"}
		}},
		{name: "symbolic link at start", spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			// A valid message, but through a link: never read.
			outside := t.TempDir()
			id := newID(time.Now())
			os.Mkdir(filepath.Join(outside, "queue"), 0o700)
			writeMessageFile(t, outside, "queue", id, good)
			if err := os.Symlink(filepath.Join(outside, "queue", string(id)+".msg"), filepath.Join(dir, "queue", string(id)+".msg")); err != nil {
				t.Fatal(err)
			}
			return "queue/" + string(id) + ".msg", []string{string(id) + ".msg"}
		}},
		{name: "directory during Run", during: true, spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			id := newID(time.Now())
			mkdir(t, filepath.Join(dir, "queue", string(id)+".msg"))
			return "queue/" + string(id) + ".msg", []string{string(id) + ".msg"}
		}},
		{name: "message owned by another user at start", spoil: func(t *testing.T, s *Spool, dir string) (string, []string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a file to another user")
			}
			id := mustEnqueue(t, s, good)
			if err := os.Lchown(filepath.Join(dir, "queue", string(id)+".msg"), 64000, 64000); err != nil {
				t.Fatal(err)
			}
			return "queue/" + string(id) + ".msg", []string{string(id) + ".msg"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := &countingHandler{}
			hfs := ownedHookFS(t, dir)
			s := mustOpen(t, dir, Options{Logger: slog.New(logs), fs: hfs})
			ok1 := mustEnqueue(t, s, good)
			var file string
			var moved []string
			if !tt.during {
				file, moved = tt.spoil(t, s, dir)
				if _, err := s.List(); err != nil {
					t.Fatalf("List with %s: %v", file, err)
				}
			}
			f := &fakeDeliverer{}
			ev := newEvents()
			stop := runSpool(t, s, f, RunOptions{OnEvent: ev.add, ScanInterval: time.Millisecond})
			waitFor(t, "the first good message", func() bool { return len(f.delivered()) >= 1 })
			if tt.during {
				file, moved = tt.spoil(t, s, dir)
			}
			ok2 := mustEnqueue(t, s, good)
			want := []ID{ok1, ok2}
			if tt.delivered {
				want = append(want, ID(strings.TrimSuffix(strings.TrimPrefix(file, "queue/"), ".meta")))
			}
			waitFor(t, "the quarantine", func() bool { return ev.count(OutcomeQuarantined) >= 1 })
			waitFor(t, "the good messages", func() bool { return len(f.delivered()) >= len(want) })
			// Many more scans: none may report the file again.
			hfs.waitScans(t, 20)
			if _, err := s.List(); err != nil {
				t.Fatalf("List after quarantine: %v", err)
			}
			stop() // every attempt has ended
			items, err := s.List()
			if err != nil {
				t.Fatalf("List after Run: %v", err)
			}

			if got := ev.files(OutcomeQuarantined); !slices.Equal(got, []string{file}) {
				t.Errorf("quarantine events for %q, want exactly one for %s", got, file)
			}
			var warns []string
			for _, l := range logs.lines(slog.LevelWarn) {
				warns = append(warns, l)
			}
			if len(warns) != 1 || !strings.Contains(warns[0], "quarantined") || !strings.Contains(warns[0], "file="+file) {
				t.Errorf("WARN and ERROR lines:\n%s\nwant exactly one quarantine line for %s", strings.Join(warns, "\n"), file)
			}
			var got []ID
			for _, d := range f.delivered() {
				got = append(got, d.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("delivered %v, want %v", got, want)
			}
			for _, name := range moved {
				if n := quarantinedIn(t, dir, "queue", name); n != 1 {
					t.Errorf("%d copies of %s in corrupt/, want 1: %v", n, name, dirNames(t, filepath.Join(dir, "corrupt")))
				}
				if _, err := os.Lstat(filepath.Join(dir, "queue", name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still in queue/: %v", name, err)
				}
			}
			if len(items) != 0 {
				t.Errorf("List after delivery: %+v", items)
			}
		})
	}
}

// TestQuarantineUnmovableReportedOnce: a file that cannot even be moved to
// corrupt/ is reported once, skipped afterwards, and List leaves it out.
func TestQuarantineUnmovableReportedOnce(t *testing.T) {
	dir := t.TempDir()
	hfs := unmovableFS{ownedHookFS(t, dir)}
	logs := &countingHandler{}
	s := mustOpen(t, dir, Options{fs: hfs, Logger: slog.New(logs)})
	bad := newID(time.Now())
	writeFile(t, filepath.Join(dir, "queue", string(bad)+".msg"), "garbage")
	good := mustEnqueue(t, s, "Subject: x\r\n\r\n")
	f := &fakeDeliverer{}
	ev := newEvents()
	stop := runSpool(t, s, f, RunOptions{OnEvent: ev.add, ScanInterval: time.Millisecond})
	waitFor(t, "delivery", func() bool { return len(f.delivered()) == 1 })
	hfs.waitScans(t, 20)
	stop()
	if d := f.delivered(); d[0].ID != good {
		t.Errorf("delivered %s, want %s", d[0].ID, good)
	}
	if n := ev.count(OutcomeQuarantined); n != 1 {
		t.Errorf("%d quarantine events, want 1", n)
	}
	if l := logs.lines(slog.LevelWarn); len(l) != 1 || !strings.Contains(l[0], "left in place") {
		t.Errorf("WARN and ERROR lines: %q, want one saying the file was left in place", l)
	}
	if items, err := s.List(); err != nil || len(items) != 0 {
		t.Errorf("List = %+v, %v; want nothing (the unusable file left out)", items, err)
	}
}

// ownedHookFS is a hookFS that checks owners like the real one.
func ownedHookFS(t *testing.T, dir string) *hookFS {
	t.Helper()
	own, err := processOwner(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := newHookFS()
	h.osFS = osFS{own: own}
	return h
}

// unmovableFS cannot move anything into corrupt/.
type unmovableFS struct{ *hookFS }

func (u unmovableFS) rename(from, to string) error {
	if filepath.Base(filepath.Dir(to)) == dirCorrupt {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: errors.New("injected failure")}
	}
	return u.hookFS.rename(from, to)
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, name string) {
	t.Helper()
	if err := os.Mkdir(name, 0o700); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}
