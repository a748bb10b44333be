package rfc5322

import (
	"bytes"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n",
	"From: a@example.com\nSubject: hi\n\nbody\n",
	"X-A: a\rFrom: evil@example.com\r\n\r\n",
	"X-B: a\x00b\r\n\r\n",
	"Subject: " + strings.Repeat("long ", 400) + "\r\n\r\n",
	"Subject: one\r\n two\r\n\tthree\r\nMessage-ID:\r\n <id@example.com>\r\n\r\n",
	"From: a@example.com\r\nFrom: b@example.com\r\nFrom : c@example.com\r\n\r\n",
	"Bcc: x@example.com,\r\n y@example.com\r\n\r\n",
	" leading continuation\r\n\r\n",
	"not a header\r\n",
	"Subject: x",
	"\r\n",
	"",
}

// FuzzParse checks that Parse never panics, that its offsets describe the
// message, and that AddBcc and EnsureMessageID change nothing but what they
// insert or remove.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		h := Parse(raw)
		off := 0
		for _, fl := range h.Fields {
			if fl.Start != off || fl.End <= fl.Start || fl.End > len(raw) {
				t.Fatalf("field %q at [%d,%d), want it to start at %d", fl.Name, fl.Start, fl.End, off)
			}
			if !bytes.HasPrefix(raw[fl.Start:], []byte(fl.Name)) || fl.Name == "" {
				t.Fatalf("field name %q does not start raw[%d:]", fl.Name, fl.Start)
			}
			if strings.Contains(fl.Value(), "\n") {
				t.Fatalf("field %q value %q is not unfolded", fl.Name, fl.Value())
			}
			off = fl.End
		}
		if h.End != off || h.Body < h.End || h.Body > len(raw) {
			t.Fatalf("End %d, Body %d, last field ends at %d, len %d", h.End, h.Body, off, len(raw))
		}
		for _, d := range h.Defects {
			switch d.Kind {
			case BareCR:
				if raw[d.Offset] != '\r' || d.Offset >= h.End {
					t.Fatalf("bare CR defect at %d", d.Offset)
				}
			case NUL:
				if raw[d.Offset] != 0 || d.Offset >= h.End {
					t.Fatalf("NUL defect at %d", d.Offset)
				}
			case NotAField:
				if d.Offset != h.Body || d.Offset != h.End {
					t.Fatalf("not-a-field defect at %d, body at %d", d.Offset, h.Body)
				}
			}
		}

		withBcc := AddBcc(raw, []string{"fuzz@example.com"})
		if len(withBcc) <= len(raw) {
			t.Fatalf("AddBcc added nothing to %q", raw)
		}
		if !containsInOrder(withBcc, raw) {
			t.Fatalf("AddBcc changed existing bytes:\n%q\n%q", raw, withBcc)
		}
		withID := EnsureMessageID(raw, "fuzz.1@example.com")
		if got := Parse(withID).MessageID(); h.MessageID() == "" && got != "fuzz.1@example.com" || h.MessageID() != "" && got != h.MessageID() {
			t.Fatalf("EnsureMessageID: message id %q, before %q", got, h.MessageID())
		}
		if h.MessageID() != "" && !bytes.Equal(withID, raw) {
			t.Fatal("EnsureMessageID changed a message that has a Message-ID")
		}
	})
}

// containsInOrder reports whether small is big with one run of bytes
// inserted.
func containsInOrder(big, small []byte) bool {
	i := 0
	for i < len(small) && big[i] == small[i] {
		i++
	}
	return bytes.Equal(big[len(big)-(len(small)-i):], small[i:])
}
