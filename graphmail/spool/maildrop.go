package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// Limits on a submission through maildrop/, when DropOptions and Options
// leave them zero.
const (
	// DefaultMaxDropSize is 35 MiB, serve.max_message_size's default.
	DefaultMaxDropSize = 35 << 20
	// DefaultMaxDropRecipients bounds the envelope recipients.
	DefaultMaxDropRecipients = 1000
)

// DropOptions configure Drop.
type DropOptions struct {
	// MaxSize is the largest message Drop accepts, in bytes; 0 means
	// DefaultMaxDropSize. The queue owner checks again with its own
	// Options.MaxDropSize.
	MaxSize int
	// MaxRecipients is the most envelope recipients; 0 means
	// DefaultMaxDropRecipients.
	MaxRecipients int
}

// InvalidError is a submission that Drop refuses, or that Run and RunOnce
// find in maildrop/ and quarantine: a message too large or without a
// usable header, an envelope address with a control character, white
// space or a character that would let it become two addresses, a file
// that is not a submission.
type InvalidError struct {
	// Problem says what is wrong, without repeating the address.
	Problem string
}

// Error implements error.
func (e *InvalidError) Error() string { return "invalid submission: " + e.Problem }

// errMaildropGroup means a submission would not belong to maildrop/'s
// group, so the queue owner could not read it.
var errMaildropGroup = errors.New("the message would not belong to maildrop/'s group (it must be setgid)")

// dropMagic starts every submission file, naming the format version.
const dropMagic = "graphmail-drop 1\n"

// dropHeader is the first JSON line of a submission file. Nothing else is
// taken from the submitting user but the file's owner.
type dropHeader struct {
	Envelope Envelope `json:"envelope"`
	Size     int      `json:"size"`
}

// Drop submits a message through dir/maildrop/, where any local user may
// write (see the package documentation for the permission model), without
// opening the spool: no lock, no access to queue/. It checks the message
// like the queue owner will (an *InvalidError when it refuses), writes it
// to ID.tmp (O_EXCL, never through a symbolic link, mode 0640 in
// maildrop/'s group), fsyncs it and renames it to ID.drop, then makes the
// rename durable: by fsyncing maildrop/ when the caller may open it, else
// with syncfs(2) on Linux. Once Drop returns nil the message survives a
// crash; Run or RunOnce of the queue owner then takes it into the queue
// under the same ID, with Meta.Client "maildrop uid=N user=NAME".
func Drop(dir string, env Envelope, raw []byte, o DropOptions) (ID, error) {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxDropSize
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = DefaultMaxDropRecipients
	}
	if err := checkSubmission(env, raw, o.MaxSize, o.MaxRecipients); err != nil {
		return "", &Error{Op: "drop", Err: err}
	}
	data, err := encodeDrop(env, raw)
	if err != nil {
		return "", &Error{Op: "drop", Err: err}
	}
	md := filepath.Join(dir, dirMaildrop)
	dfi, err := os.Lstat(md)
	if err != nil {
		return "", &Error{Op: "drop", Err: err}
	}
	if !dfi.IsDir() {
		return "", &Error{Op: "drop", Err: &fs.PathError{Op: "drop", Path: md, Err: errors.New("not a directory")}}
	}
	// A name another user took (or an unlucky clash) is skipped; the
	// bound only stops a loop on a broken file system.
	for range 16 {
		id := newID(time.Now())
		done, err := dropAs(md, dfi, id, data)
		if err != nil {
			return "", &Error{Op: "drop", ID: id, Err: err}
		}
		if done {
			return id, nil
		}
	}
	return "", &Error{Op: "drop", Err: errors.New("no free name in maildrop/")}
}

// dropAs writes data as md/ID.drop; false when the name is taken.
func dropAs(md string, dfi fs.FileInfo, id ID, data []byte) (bool, error) {
	tmp := filepath.Join(md, string(id)+".tmp")
	f, err := createExcl(tmp, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fail := func(err error) (bool, error) {
		os.Remove(tmp)
		return false, err
	}
	// Exactly 0640 whatever the umask: the owner and maildrop/'s group
	// (the queue owner's) read it, nobody else does.
	if err := f.Chmod(0o640); err != nil {
		return fail(err)
	}
	if _, dgid, _, ok := fileOwner(dfi); ok {
		fi, err := f.Stat()
		if err != nil {
			return fail(err)
		}
		if _, gid, _, _ := fileOwner(fi); gid != dgid {
			// Without the setgid bit on maildrop/, root can still give
			// the file its group.
			if err := f.Chown(-1, int(dgid)); err != nil {
				return fail(fmt.Errorf("%w: %v", errMaildropGroup, err))
			}
		}
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	final := filepath.Join(md, string(id)+".drop")
	if _, err := os.Lstat(final); err == nil {
		return fail(nil)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	// The queue owner may take (and remove) the file from here on: the
	// rename cannot be undone, only made durable.
	if err := (osFS{}).syncDir(md); err != nil {
		if err := syncFS(f); err != nil {
			return false, err
		}
	}
	return true, nil
}

func encodeDrop(env Envelope, raw []byte) ([]byte, error) {
	h, err := json.Marshal(dropHeader{Envelope: env, Size: len(raw)})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(dropMagic)+len(h)+1+len(raw))
	out = append(out, dropMagic...)
	out = append(out, h...)
	out = append(out, '\n')
	return append(out, raw...), nil
}

func decodeDrop(data []byte) (Envelope, []byte, error) {
	rest, ok := bytes.CutPrefix(data, []byte(dropMagic))
	if !ok {
		return Envelope{}, nil, &InvalidError{Problem: "not a submission file"}
	}
	line, raw, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return Envelope{}, nil, &InvalidError{Problem: "truncated submission file"}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var h dropHeader
	if err := dec.Decode(&h); err != nil {
		return Envelope{}, nil, &InvalidError{Problem: "unreadable envelope: " + err.Error()}
	}
	if h.Size != len(raw) {
		return Envelope{}, nil, &InvalidError{Problem: fmt.Sprintf("truncated submission file: %d bytes of message, header says %d", len(raw), h.Size)}
	}
	return h.Envelope, raw, nil
}

// checkSubmission checks a submission from a local user, whom the queue
// owner does not trust: Drop before writing it, Run and RunOnce again
// before taking it into the queue.
func checkSubmission(env Envelope, raw []byte, maxSize, maxRcpts int) error {
	switch {
	case len(raw) == 0:
		return &InvalidError{Problem: "empty message"}
	case len(raw) > maxSize:
		return &InvalidError{Problem: fmt.Sprintf("message of %d bytes, more than %d", len(raw), maxSize)}
	case len(env.To) == 0:
		return &InvalidError{Problem: "no envelope recipients"}
	case len(env.To) > maxRcpts:
		return &InvalidError{Problem: fmt.Sprintf("%d envelope recipients, more than %d", len(env.To), maxRcpts)}
	}
	if env.From != "" {
		if p := addressProblem(env.From); p != "" {
			return &InvalidError{Problem: "envelope sender " + p}
		}
	}
	for i, a := range env.To {
		if p := addressProblem(a); p != "" {
			return &InvalidError{Problem: fmt.Sprintf("envelope recipient %d %s", i+1, p)}
		}
	}
	h := rfc5322.Parse(raw)
	if len(h.Defects) > 0 {
		d := h.Defects[0]
		return &InvalidError{Problem: fmt.Sprintf("header has a %s at offset %d", d.Kind, d.Offset)}
	}
	if len(h.Fields) == 0 {
		return &InvalidError{Problem: "message has no header"}
	}
	return nil
}

// addressProblem says what makes a an unusable envelope address, or "".
// It allows what a mail system may resolve later (a local name without a
// domain, an address literal, UTF-8) and refuses what could smuggle in a
// second address, a header line or an SMTP command: control characters,
// white space, angle brackets, commas, semicolons, quotes, backslashes,
// parentheses and a second "@".
func addressProblem(a string) string {
	if a == "" {
		return "is empty"
	}
	if len(a) > 254 {
		return "is longer than 254 bytes"
	}
	if !utf8.ValidString(a) {
		return "is not valid UTF-8"
	}
	for _, r := range a {
		switch {
		case unicode.IsControl(r):
			return "contains a control character"
		case unicode.IsSpace(r):
			return "contains white space"
		case strings.ContainsRune(`<>,;"\()`, r):
			return fmt.Sprintf("contains %q", r)
		}
	}
	if local, domain, ok := strings.Cut(a, "@"); ok && (local == "" || domain == "" || strings.Contains(domain, "@")) {
		return "is not a single address"
	}
	return ""
}

// pickup takes the submissions in maildrop/ into the queue, under the ID
// each was dropped with, until ctx ends. It runs under the delivery lock,
// before scan (which then finds them in queue/). A file that is not a
// valid submission is quarantined; a *.tmp file older than staleTmp (a
// Drop that died) is removed. pickup returns how many it took.
func (s *Spool) pickup(ctx context.Context) int {
	md := filepath.Join(s.dir, dirMaildrop)
	ents, err := s.fs.readDir(md)
	if err != nil {
		s.mu.Lock()
		first := !s.stuck[dirMaildrop]
		s.stuck[dirMaildrop] = true
		s.mu.Unlock()
		if first && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("spool: cannot read maildrop/; local submissions wait", "error", err.Error())
		}
		return 0
	}
	s.mu.Lock()
	delete(s.stuck, dirMaildrop)
	s.mu.Unlock()
	n := 0
	for _, e := range ents {
		if ctx.Err() != nil {
			break
		}
		name := e.Name()
		base, ext, _ := strings.Cut(name, ".")
		switch {
		case ext == "tmp" && validID(ID(base)):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) >= staleTmp {
				if err := s.fs.remove(filepath.Join(md, name)); err == nil {
					s.log.Info("spool: removed an abandoned submission", "file", dirMaildrop+"/"+name)
				}
			}
		case ext == "drop" && validID(ID(base)) && e.Type()&fs.ModeSymlink != 0:
			s.quarantine(dirMaildrop, &fs.PathError{Op: "read", Path: filepath.Join(md, name), Err: errSymlink}, name)
		case ext == "drop" && validID(ID(base)) && !e.Type().IsRegular():
			// Not even opened: a FIFO or a device may do something on open.
			s.quarantine(dirMaildrop, &fs.PathError{Op: "read", Path: filepath.Join(md, name), Err: errNotRegular}, name)
		case ext == "drop" && validID(ID(base)):
			if s.take(ID(base), name) {
				n++
			}
		default:
			s.quarantine(dirMaildrop, &InvalidError{Problem: "not the name of a submission"}, name)
		}
	}
	return n
}

// take moves one submission into the queue: the file's owner is the only
// thing trusted about it; its bytes are checked again. It becomes
// queue/ID.msg, durably, before maildrop/name is removed; a crash between
// the two leaves the message in the queue under the same ID, which the next
// pickup recognises (an ID found in queue/, done/ or deadletter/ is taken
// already), so a submission is queued once.
func (s *Spool) take(id ID, name string) bool {
	md := filepath.Join(s.dir, dirMaildrop)
	p := filepath.Join(md, name)
	data, uid, known, err := s.readDrop(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false
	case transient(err):
		s.log.Error("spool: reading a submission", "file", dirMaildrop+"/"+name, "error", err.Error())
		return false
	case err != nil:
		s.quarantine(dirMaildrop, err, name)
		return false
	}
	env, raw, err := decodeDrop(data)
	if err == nil {
		err = checkSubmission(env, raw, s.opts.MaxDropSize, s.opts.MaxDropRecipients)
	}
	if err != nil {
		s.quarantine(dirMaildrop, err, name)
		return false
	}
	client := "maildrop"
	if known {
		client += " uid=" + strconv.FormatUint(uint64(uid), 10)
		if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
			client += " user=" + u.Username
		}
	}
	if s.exists(dirQueue, id, ".msg") || s.exists(dirDone, id, ".msg") || s.exists(dirDone, id, ".meta") || s.exists(dirDeadletter, id, ".msg") {
		s.log.Info("spool: submission already in the queue; removing it from maildrop/", "id", id, "client", client)
	} else {
		tmp := string(id) + ".pickup"
		if err := s.fs.remove(filepath.Join(s.dir, dirTmp, tmp)); err != nil {
			s.log.Error("spool: taking a submission", "id", id, "error", err.Error())
			return false
		}
		if _, err := s.store(id, env, raw, Meta{Client: client}, tmp); err != nil {
			s.log.Error("spool: taking a submission", "id", id, "error", err.Error())
			return false
		}
		s.log.Info("spool: submission taken", "id", id, "client", client, "recipients", len(env.To), "bytes", len(raw))
	}
	if err := s.fs.remove(p); err != nil {
		s.log.Error("spool: removing a taken submission", "file", dirMaildrop+"/"+name, "error", err.Error())
		return true
	}
	if err := s.fs.syncDir(md); err != nil {
		s.log.Error("spool: syncing maildrop/", "error", err.Error())
	}
	return true
}

// readDrop reads a submission without following a symbolic link (nor
// waiting on a FIFO): it must be a regular file with one link and within
// the size limit. It returns the bytes and the file's owner (known is
// false where files have none).
func (s *Spool) readDrop(p string) (data []byte, uid uint32, known bool, err error) {
	f, err := openNoFollow(p)
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, false, &fs.PathError{Op: "read", Path: p, Err: errNotRegular}
	}
	uid, _, nlink, known := fileOwner(fi)
	if known && nlink != 1 {
		return nil, 0, false, &fs.PathError{Op: "read", Path: p, Err: errHardLinked}
	}
	// The message, its envelope (each address at most 254 bytes, a little
	// more in JSON) and the file's own header line.
	limit := int64(s.opts.MaxDropSize) + int64(s.opts.MaxDropRecipients)*2048 + 64<<10
	if fi.Size() > limit {
		return nil, 0, false, &fs.PathError{Op: "read", Path: p, Err: errTooLarge}
	}
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, 0, false, err
	}
	if int64(len(data)) > limit {
		return nil, 0, false, &fs.PathError{Op: "read", Path: p, Err: errTooLarge}
	}
	return data, uid, known, nil
}
