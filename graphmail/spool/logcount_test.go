package spool

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// countingHandler keeps every log record, so that a test can count the
// lines a problem produced.
type countingHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// lines returns "LEVEL message file=…" for every record at level or above.
func (h *countingHandler) lines(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level < level {
			continue
		}
		l := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "file" {
				l += " file=" + a.Value.String()
			}
			return true
		})
		out = append(out, l)
	}
	return out
}

// events collects Events from several goroutines.
type events struct {
	mu  sync.Mutex
	all []Event
	ch  chan Event
}

func newEvents() *events { return &events{ch: make(chan Event, 100)} }

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	select {
	case e.ch <- ev:
	default:
	}
}

func (e *events) count(o Outcome) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Outcome == o {
			n++
		}
	}
	return n
}

func (e *events) files(o Outcome) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		if ev.Outcome == o {
			out = append(out, ev.File)
		}
	}
	return out
}

// dirNames returns the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// writeMessageFile writes a valid message file for id into sub/, as
// another process would have.
func writeMessageFile(t *testing.T, dir, sub string, id ID, raw string) {
	t.Helper()
	data, err := encodeMessage(Envelope{From: "app@example.com", To: []string{"rcpt@example.com"}}, Meta{MessageID: string(id) + "@test"}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sub, string(id)+".msg"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// quarantinedIn reports how many of the files in corrupt/ came from sub/
// with a name that contains part.
func quarantinedIn(t *testing.T, dir, sub, part string) int {
	t.Helper()
	n := 0
	for _, name := range dirNames(t, filepath.Join(dir, dirCorrupt)) {
		if strings.Contains(name, "-"+sub+"-") && strings.Contains(name, part) {
			n++
		}
	}
	return n
}
