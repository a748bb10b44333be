package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/graphmail/graphmail/config"
)

// NewLogger builds the slog logger from the log section: text or JSON on
// w (standard error for the CLI), at log.level. It writes nowhere else;
// OpenLog adds log.file and log.syslog.
func NewLogger(l config.Log, w io.Writer) *slog.Logger {
	return slog.New(newHandler(l.Format, w, level(l.Level), false))
}

func level(l config.LogLevel) slog.Level {
	switch l {
	case config.LogDebug:
		return slog.LevelDebug
	case config.LogWarn:
		return slog.LevelWarn
	case config.LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func newHandler(format config.LogFormat, w io.Writer, lvl slog.Leveler, noTime bool) slog.Handler {
	opts := &slog.HandlerOptions{Level: lvl}
	if noTime {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if format == config.LogJSON {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// LogOptions adjust OpenLog.
type LogOptions struct {
	// Stderr receives the log at log.level (or StderrLevel); nil means
	// nowhere.
	Stderr io.Writer
	// StderrLevel, when set, replaces log.level for Stderr only: the
	// sendmail drop-in is quiet (warn) on standard error, which cron would
	// mail, while log.file and log.syslog still record every message.
	StderrLevel *slog.Level
	// OmitFromStderr, when set, keeps the records it reports true for
	// off Stderr; log.file and log.syslog still get them. A one-shot
	// command reports a failed message once, as its error, not also as
	// the audit line.
	OmitFromStderr func(slog.Record) bool
	// SyslogNetwork and SyslogAddr name the syslog socket; "" means the
	// local default (/dev/log and friends).
	SyslogNetwork, SyslogAddr string
}

// Log is the process's logger with all its sinks: standard error, and
// log.file and log.syslog, which record at info (or log.level when that is
// lower) whatever standard error shows, so that the outcome of every
// message survives a cron job whose output nobody reads.
type Log struct {
	*slog.Logger
	file *reopenFile
	sys  io.Closer
}

// OpenLog builds the logger of the log section. An unusable log.file or
// syslog socket is a configuration error on its key.
func OpenLog(l config.Log, o LogOptions) (*Log, error) {
	stderrLevel := level(l.Level)
	if o.StderrLevel != nil {
		stderrLevel = *o.StderrLevel
	}
	recordLevel := min(level(l.Level), slog.LevelInfo)
	var hs []slog.Handler
	if o.Stderr != nil {
		h := newHandler(l.Format, o.Stderr, stderrLevel, false)
		if o.OmitFromStderr != nil {
			h = omitHandler{h, o.OmitFromStderr}
		}
		hs = append(hs, h)
	}
	lg := &Log{}
	if l.File != "" {
		f, err := openReopenFile(l.File)
		if err != nil {
			return nil, &config.Error{Key: "log.file", Problem: err.Error(), Hint: "point log.file at a file in a directory this user may write, or remove the key"}
		}
		lg.file = f
		hs = append(hs, newHandler(l.Format, f, recordLevel, false))
	}
	if l.Syslog {
		h, c, err := newSyslogHandler(l.Format, recordLevel, o.SyslogNetwork, o.SyslogAddr)
		if err != nil {
			lg.Close()
			return nil, &config.Error{Key: "log.syslog", Problem: err.Error(), Hint: "is a syslog daemon or journald listening on /dev/log? set log.syslog: false otherwise"}
		}
		lg.sys = c
		hs = append(hs, h)
	}
	switch len(hs) {
	case 0:
		lg.Logger = slog.New(slog.DiscardHandler)
	case 1:
		lg.Logger = slog.New(hs[0])
	default:
		lg.Logger = slog.New(fanout(hs))
	}
	return lg, nil
}

// Reopen reopens log.file (after logrotate moved it; the daemon calls it
// on SIGHUP). Without log.file it does nothing.
func (l *Log) Reopen() error {
	if l == nil || l.file == nil {
		return nil
	}
	return l.file.reopen()
}

// Close closes log.file and the syslog connection.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	var errs []error
	if l.file != nil {
		errs = append(errs, l.file.Close())
	}
	if l.sys != nil {
		errs = append(errs, l.sys.Close())
	}
	return errors.Join(errs...)
}

// fanout sends each record to every handler that wants its level.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// omitHandler drops the records omit reports true for.
type omitHandler struct {
	slog.Handler
	omit func(slog.Record) bool
}

func (h omitHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.omit(r) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h omitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return omitHandler{h.Handler.WithAttrs(attrs), h.omit}
}

func (h omitHandler) WithGroup(name string) slog.Handler {
	return omitHandler{h.Handler.WithGroup(name), h.omit}
}

// logFileMode is the mode of a log file graphmail creates: the group (adm,
// a log reader) may read it, nobody else.
const logFileMode = 0o640

// reopenFile appends to a path and follows it when it is rotated: before
// each write it checks that the path still names the open file (logrotate
// renamed or removed it otherwise) and reopens it if not.
type reopenFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openReopenFile(path string) (*reopenFile, error) {
	r := &reopenFile{path: path}
	if err := r.reopen(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reopenFile) reopen() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file", r.path)
	}
	r.mu.Lock()
	old := r.f
	r.f = f
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (r *reopenFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	f := r.f
	r.mu.Unlock()
	if cur, err := os.Stat(r.path); err != nil || !sameFile(f, cur) {
		if err := r.reopen(); err == nil {
			r.mu.Lock()
			f = r.f
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Write(p)
}

func sameFile(f *os.File, fi os.FileInfo) bool {
	st, err := f.Stat()
	return err == nil && os.SameFile(st, fi)
}

func (r *reopenFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}
