package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// readMeta reads sub/ID.meta. ok is false when there is none.
func (s *Spool) readMeta(sub string, id ID) (m Meta, stamp string, ok bool, err error) {
	name := s.path(sub, id, ".meta")
	fi, err := s.fs.stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return m, "", false, nil
	}
	if err != nil {
		return m, "", false, err
	}
	data, err := s.fs.readFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return m, "", false, nil
	}
	if err != nil {
		return m, "", false, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, "", false, fmt.Errorf("%w: %s: %v", errCorrupt, name, err)
	}
	return m, metaStamp(fi), true, nil
}

func metaStamp(fi fs.FileInfo) string {
	return fmt.Sprintf("%d/%d", fi.ModTime().UnixNano(), fi.Size())
}

// queuedMeta returns the current metadata of queue/ID.msg whose header
// holds h. A submitted or dead record may already have been moved next to
// where the message is going (a crash between the two renames), so done/
// and deadletter/ are consulted too: a message with a submitted record is
// never delivered again.
//
// A record that cannot be used (see badFile) is handed to bad: when bad
// returns nil the record counts as absent, else queuedMeta fails with its
// error. nil bad fails with the record's error.
func (s *Spool) queuedMeta(id ID, h Meta, bad func(sub string, id ID, err error) error) (Meta, string, error) {
	read := func(sub string) (Meta, string, bool, error) {
		m, stamp, ok, err := s.readMeta(sub, id)
		if err != nil && badFile(err) && bad != nil {
			return m, "", false, bad(sub, id, err)
		}
		return m, stamp, ok, err
	}
	m, stamp, ok, err := read(dirQueue)
	if err != nil || ok {
		return m, stamp, err
	}
	if m, _, ok, err := read(dirDone); err != nil || ok && m.Submitted != nil {
		return m, "", err
	}
	if m, _, ok, err := read(dirDeadletter); err != nil || ok && m.Dead != nil {
		return m, "", err
	}
	return h, "", nil
}

// quarantineMeta is queuedMeta's bad for Run and RunOnce: the record goes
// to corrupt/ and the message carries on with the metadata in its header
// (delivery is at least once: a record that cannot be read may have been
// a submitted one).
func (s *Spool) quarantineMeta(sub string, id ID, err error) error {
	s.quarantine(sub, err, string(id)+".meta")
	return nil
}

// ignoreMeta is queuedMeta's bad for List and Show, which change nothing:
// the record counts as absent until Run quarantines it.
func ignoreMeta(string, ID, error) error { return nil }

// loadMessage reads sub/ID.msg.
func (s *Spool) loadMessage(sub string, id ID) (header, []byte, error) {
	data, err := s.fs.readFile(s.path(sub, id, ".msg"))
	if errors.Is(err, fs.ErrNotExist) {
		return header{}, nil, ErrNotFound
	}
	if err != nil {
		return header{}, nil, err
	}
	return decodeMessage(data)
}

// writeMeta replaces queue/ID.meta durably.
func (s *Spool) writeMeta(id ID, m Meta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, dirTmp, string(newID(s.now()))+"-"+string(id)+".meta")
	if err := s.fs.writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := s.fs.rename(tmp, s.path(dirQueue, id, ".meta")); err != nil {
		s.fs.remove(tmp)
		return err
	}
	return s.fs.syncDir(filepath.Join(s.dir, dirQueue))
}

// moveOut moves ID.msg and ID.meta from queue/ to sub/ (or deletes them
// when sub is ""). The record saying why (submitted or dead) must already
// be durable in queue/ID.meta. The message moves first: a crash between
// the two renames leaves an orphaned record in queue/, which recover
// tidies, never a message without its record.
func (s *Spool) moveOut(id ID, sub string) error {
	q := filepath.Join(s.dir, dirQueue)
	if sub == "" {
		if err := s.fs.remove(s.path(dirQueue, id, ".msg")); err != nil {
			return err
		}
		if err := s.fs.syncDir(q); err != nil {
			return err
		}
		if err := s.fs.remove(s.path(dirQueue, id, ".meta")); err != nil {
			return err
		}
		return s.fs.syncDir(q)
	}
	if err := s.fs.rename(s.path(dirQueue, id, ".msg"), s.path(sub, id, ".msg")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.fs.rename(s.path(dirQueue, id, ".meta"), s.path(sub, id, ".meta")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.fs.syncDir(filepath.Join(s.dir, sub)); err != nil {
		return err
	}
	return s.fs.syncDir(q)
}

// listIDs returns the IDs of sub/*.msg and of sub/*.meta without a message.
func (s *Spool) listIDs(sub string) (msgs, orphans []ID, err error) {
	ents, err := s.fs.readDir(filepath.Join(s.dir, sub))
	if err != nil {
		return nil, nil, err
	}
	have := map[ID]bool{}
	var metas []ID
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".msg") && validID(ID(strings.TrimSuffix(name, ".msg"))):
			id := ID(strings.TrimSuffix(name, ".msg"))
			have[id] = true
			msgs = append(msgs, id)
		case strings.HasSuffix(name, ".meta") && validID(ID(strings.TrimSuffix(name, ".meta"))):
			metas = append(metas, ID(strings.TrimSuffix(name, ".meta")))
		}
	}
	for _, id := range metas {
		if !have[id] {
			orphans = append(orphans, id)
		}
	}
	return msgs, orphans, nil
}

// staleTmp is the age after which a file in tmp/ is a crash's leftover.
const staleTmp = time.Hour

// recover finishes what a crash interrupted. It runs under the Run lock:
// queued messages with a submitted or dead record are moved out, orphaned
// records follow their message or are removed, tmp/ files older than
// staleTmp are removed, and files that cannot be used are quarantined. It
// fails only when queue/ or tmp/ cannot be read: one file never keeps Run
// from starting.
func (s *Spool) recover() error {
	msgs, orphans, err := s.listIDs(dirQueue)
	if err != nil {
		return err
	}
	for _, id := range orphans {
		switch {
		case s.exists(dirDone, id, ".msg"):
			err = s.fs.rename(s.path(dirQueue, id, ".meta"), s.path(dirDone, id, ".meta"))
		case s.exists(dirDeadletter, id, ".msg"):
			err = s.fs.rename(s.path(dirQueue, id, ".meta"), s.path(dirDeadletter, id, ".meta"))
		default:
			err = s.fs.remove(s.path(dirQueue, id, ".meta"))
		}
		if err != nil {
			s.log.Error("spool: tidying an orphaned record", "id", id, "error", err.Error())
		}
	}
	for _, id := range msgs {
		h, err := s.loadHeader(dirQueue, id)
		if badFile(err) {
			s.quarantine(dirQueue, err, string(id)+".msg", string(id)+".meta")
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				s.log.Error("spool: reading a queued message", "id", id, "error", err.Error())
			}
			continue
		}
		m, _, err := s.queuedMeta(id, h.Meta, s.quarantineMeta)
		if err != nil {
			s.log.Error("spool: reading a queued message's record", "id", id, "error", err.Error())
			continue
		}
		switch {
		case m.Submitted != nil:
			s.log.Info("spool: finishing message submitted before a restart", "id", id, "message_id", m.MessageID)
			err = s.finish(id, m)
		case m.Dead != nil:
			err = s.bury(id, m)
		}
		if err != nil {
			s.log.Error("spool: finishing a message after a restart", "id", id, "error", err.Error())
		}
	}
	ents, err := s.fs.readDir(filepath.Join(s.dir, dirTmp))
	if err != nil {
		return err
	}
	for _, e := range ents {
		// Another process may be in the middle of an Enqueue: only files
		// left long ago are leftovers of a crash.
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleTmp {
			continue
		}
		if err := s.fs.remove(filepath.Join(s.dir, dirTmp, e.Name())); err != nil {
			s.log.Error("spool: removing a leftover temporary file", "file", dirTmp+"/"+e.Name(), "error", err.Error())
		}
	}
	return nil
}

// finish moves a submitted message out of the queue; m.Submitted is set.
func (s *Spool) finish(id ID, m Meta) error {
	if !s.exists(dirQueue, id, ".meta") || !s.metaSays(id, func(q Meta) bool { return q.Submitted != nil }) {
		if err := s.writeMeta(id, m); err != nil {
			return err
		}
	}
	if s.opts.DeleteDone {
		return s.moveOut(id, "")
	}
	return s.moveOut(id, dirDone)
}

// bury moves a dead message to the dead letters; m.Dead is set.
func (s *Spool) bury(id ID, m Meta) error {
	if !s.exists(dirQueue, id, ".meta") || !s.metaSays(id, func(q Meta) bool { return q.Dead != nil }) {
		if err := s.writeMeta(id, m); err != nil {
			return err
		}
	}
	return s.moveOut(id, dirDeadletter)
}

func (s *Spool) metaSays(id ID, f func(Meta) bool) bool {
	m, _, ok, err := s.readMeta(dirQueue, id)
	return err == nil && ok && f(m)
}

func (s *Spool) exists(sub string, id ID, ext string) bool {
	_, err := s.fs.stat(s.path(sub, id, ext))
	return err == nil
}
