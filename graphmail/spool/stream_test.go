package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// failingReader yields data, then fails.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

func TestEnqueueFrom(t *testing.T) {
	big := "Subject: scan\r\nMessage-ID: <big@example.com>\r\n\r\n" + strings.Repeat("0123456789abcdef", InlineBytes/16+4096)
	tests := []struct {
		name   string
		raw    string
		inline bool
	}{
		{"small", "Subject: hi\r\nMessage-ID: <small@example.com>\r\n\r\nbody\r\n", true},
		{"over InlineBytes", big, false},
		{"header only", "Subject: x\r\nMessage-ID: <h@example.com>", true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rfs := &recordingFS{root: dir}
			s := mustOpen(t, dir, Options{fs: rfs})
			rfs.take()
			id, err := s.EnqueueFrom(context.Background(), Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader(tt.raw), Meta{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"write+fsync tmp/" + string(id) + ".msg", "rename queue/" + string(id) + ".msg", "fsyncdir queue"}
			if got := rfs.take(); !slices.Equal(got, want) {
				t.Errorf("durability steps %q, want %q", got, want)
			}
			// The file reads back whole, as Enqueue's do.
			h, raw, err := s.loadMessage(dirQueue, id)
			if err != nil || string(raw) != tt.raw || h.Size != len(tt.raw) {
				t.Fatalf("loadMessage: %v, %d bytes (size %d), want %d", err, len(raw), h.Size, len(tt.raw))
			}
			if mid := h.Meta.MessageID; tt.raw != "" && !strings.Contains(tt.raw, "<"+mid+">") {
				t.Errorf("Message-ID %q", mid)
			}
			d := &fakeDeliverer{}
			var body []byte
			d.fail = func(del Delivery) error {
				b, err := io.ReadAll(io.NewSectionReader(del.Body, 0, del.Body.Size()))
				body = b
				if (del.Raw != nil) != (tt.inline && len(tt.raw) > 0) && !(len(tt.raw) == 0 && len(del.Raw) == 0) {
					t.Errorf("Raw set = %v, want %v", del.Raw != nil, tt.inline)
				}
				if del.Raw != nil && !bytes.Equal(del.Raw, b) {
					t.Error("Raw and Body differ")
				}
				return err
			}
			if _, err := s.RunOnce(context.Background(), d, RunOptions{}); err != nil {
				t.Fatal(err)
			}
			if len(d.delivered()) != 1 || string(body) != tt.raw {
				t.Errorf("delivered %d, body %d bytes, want %d", len(d.delivered()), len(body), len(tt.raw))
			}
		})
	}
}

// TestEnqueueFromReadFailure: a message that could not be read to its end
// (the client went away, the size limit) is not stored.
func TestEnqueueFromReadFailure(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	cause := errors.New("connection reset")
	_, err := s.EnqueueFrom(context.Background(), Envelope{From: "a@example.com", To: []string{"b@example.com"}},
		&failingReader{r: strings.NewReader("Subject: x\r\n\r\n" + strings.Repeat("x", 300<<10)), err: cause}, Meta{})
	var se *Error
	if !errors.Is(err, cause) || !errors.As(err, &se) {
		t.Fatalf("got %v, want the read error inside *Error", err)
	}
	items, _ := s.List()
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(items) != 0 || len(tmp) != 0 {
		t.Errorf("a failed EnqueueFrom left %d items, %d temporary files", len(items), len(tmp))
	}
}
