package spool

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// badFile reports whether err, from reading a file of the spool, is the
// file's own fault (unreadable, foreign, a link, the wrong type, corrupt
// or truncated), so that it must be quarantined, rather than the file
// being gone or the process running short of something.
func badFile(err error) bool {
	return err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNotFound) && !transient(err)
}

// quarantine moves names (files in sub/) to corrupt/, where they keep
// their bytes for an administrator, and reports it once: one WARN line and
// one Event with OutcomeQuarantined. The first name is the file at fault;
// the others go along with it (a message's record). A file that cannot be
// moved stays where it is and is reported only the first time; the caller
// must skip it. quarantine reports whether the first file left sub/ (or
// was gone already).
func (s *Spool) quarantine(sub string, reason error, names ...string) bool {
	rel := sub + "/" + names[0]
	var moved []string
	for i, name := range names {
		to := corruptName(s.now(), sub, name)
		err := s.fs.rename(filepath.Join(s.dir, sub, name), filepath.Join(s.dir, dirCorrupt, to))
		switch {
		case err == nil:
			moved = append(moved, dirCorrupt+"/"+to)
		case errors.Is(err, fs.ErrNotExist):
			if i == 0 {
				return true // it went away meanwhile (Purge): nothing to keep
			}
		case i == 0:
			s.mu.Lock()
			first := !s.stuck[rel]
			s.stuck[rel] = true
			s.mu.Unlock()
			if first {
				s.log.Warn("spool: unusable file left in place: cannot move it to corrupt/", "file", rel, "reason", reason.Error(), "error", err.Error())
				s.event(Event{ID: idOf(names[0]), Outcome: OutcomeQuarantined, File: rel, Err: reason})
			}
			return false
		}
	}
	for _, d := range []string{dirCorrupt, sub} {
		if err := s.fs.syncDir(filepath.Join(s.dir, d)); err != nil {
			s.log.Error("spool: syncing a directory after quarantining", "dir", d, "error", err.Error())
		}
	}
	s.mu.Lock()
	delete(s.stuck, rel)
	s.mu.Unlock()
	s.log.Warn("spool: quarantined an unusable file", "file", rel, "reason", reason.Error(), "moved_to", strings.Join(moved, " "))
	s.event(Event{ID: idOf(names[0]), Outcome: OutcomeQuarantined, File: rel, Err: reason})
	return true
}

// corruptName is the name in corrupt/ of the file name from sub/: unique,
// sorted by time, and free of characters a shell or a terminal would
// treat specially (a maildrop/ name is anybody's choice).
func corruptName(now time.Time, sub, name string) string {
	clean := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name)
	if len(clean) > 80 {
		clean = clean[:80]
	}
	return string(newID(now)) + "-" + sub + "-" + clean
}

// idOf returns the ID a spool file name starts with, or "".
func idOf(name string) ID {
	id, _, _ := strings.Cut(name, ".")
	if validID(ID(id)) {
		return ID(id)
	}
	return ""
}

// event hands e to the running Run's or RunOnce's RunOptions.OnEvent.
func (s *Spool) event(e Event) {
	s.mu.Lock()
	f := s.onEvent
	s.mu.Unlock()
	if f != nil {
		f(e)
	}
}
