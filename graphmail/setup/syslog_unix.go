//go:build !windows && !plan9

package setup

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"log/syslog"
	"sync"

	"github.com/graphmail/graphmail/config"
)

// newSyslogHandler logs to syslog with facility mail and tag graphmail,
// each record at the syslog severity of its level, formatted like the
// other sinks but without a time (syslog stamps it).
func newSyslogHandler(format config.LogFormat, lvl slog.Level, network, addr string) (slog.Handler, io.Closer, error) {
	w, err := syslog.Dial(network, addr, syslog.LOG_MAIL|syslog.LOG_INFO, "graphmail")
	if err != nil {
		return nil, nil, err
	}
	s := &syslogSink{w: w}
	return &syslogHandler{s: s, h: newHandler(format, &s.buf, lvl, true)}, w, nil
}

// syslogSink serialises records: the handler formats one into buf, then it
// goes to syslog in one message.
type syslogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   *syslog.Writer
}

type syslogHandler struct {
	s *syslogSink
	h slog.Handler
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.buf.Reset()
	if err := h.h.Handle(ctx, r); err != nil {
		return err
	}
	msg := string(bytes.TrimRight(h.s.buf.Bytes(), "\n"))
	switch {
	case r.Level >= slog.LevelError:
		return h.s.w.Err(msg)
	case r.Level >= slog.LevelWarn:
		return h.s.w.Warning(msg)
	case r.Level >= slog.LevelInfo:
		return h.s.w.Info(msg)
	}
	return h.s.w.Debug(msg)
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &syslogHandler{s: h.s, h: h.h.WithAttrs(attrs)}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{s: h.s, h: h.h.WithGroup(name)}
}
