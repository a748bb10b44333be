package rfc5322

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// summary renders a parsed header for comparison: one "Name=value" per
// field (with "!" after a name written with space before its colon), then
// the body offset and the defects.
func summary(h *Header) string {
	var parts []string
	for _, f := range h.Fields {
		n := f.Name
		if f.SpaceBeforeColon {
			n += "!"
		}
		parts = append(parts, fmt.Sprintf("%s=%q", n, f.Value()))
	}
	parts = append(parts, fmt.Sprintf("body@%d", h.Body))
	for _, d := range h.Defects {
		parts = append(parts, fmt.Sprintf("%s@%d", d.Kind, d.Offset))
	}
	return strings.Join(parts, " ")
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"CRLF", "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n",
			`From="a@example.com" Subject="hi" body@36`},
		{"bare LF", "From: a@example.com\nSubject: hi\n\nbody\n",
			`From="a@example.com" Subject="hi" body@33`},
		{"folded value", "Subject: one\r\n two\r\n\tthree\r\n\r\n",
			`Subject="one two\tthree" body@30`},
		{"folded Message-ID", "Message-ID:\r\n <abc@example.com>\r\n\r\nb",
			`Message-ID="<abc@example.com>" body@35`},
		{"empty value", "Bcc:\r\nTo: x@example.com\r\n\r\n", `Bcc="" To="x@example.com" body@27`},
		{"space before colon", "From : evil@example.com\r\nFROM\t: a@example.com\r\n\r\n",
			`From!="evil@example.com" FROM!="a@example.com" body@49`},
		{"duplicates kept in order", "From: a@example.com\r\nFrom: b@example.com\r\n\r\n",
			`From="a@example.com" From="b@example.com" body@44`},
		{"bare CR", "X-A: a\rFrom: evil@example.com\r\nFrom: ok@example.com\r\n\r\n",
			`X-A="a\rFrom: evil@example.com" From="ok@example.com" body@55 bare CR@6`},
		{"bare CR at the end of input", "Subject: x\r", `Subject="x\r" body@11 bare CR@10`},
		{"NUL", "X-\x00: 1\r\nX-B: a\x00b\r\n\r\n", `body@0 line that is not a header field@0`},
		{"NUL in a value", "X-B: a\x00b\r\n\r\n", `X-B="a\x00b" body@12 NUL byte@6`},
		{"not a field ends the header", "Subject: x\r\nnot a field\r\n\r\nbody",
			`Subject="x" body@12 line that is not a header field@12`},
		{"sendmail body without header", "hi there: not a header because of the space\n",
			`body@0 line that is not a header field@0`},
		{"continuation first", " cont\r\nFrom: a@example.com\r\n\r\n", `body@0 line that is not a header field@0`},
		{"white space line continues", "From: a@example.com\r\n \r\nFrom: b@example.com\r\n\r\n",
			`From="a@example.com" From="b@example.com" body@47`},
		{"all header, no final line break", "From: a@example.com", `From="a@example.com" body@19`},
		{"empty header", "\r\nbody", `body@2`},
		{"empty message", "", `body@0`},
		{"8-bit text", "Subject: Grüße\r\n\r\n", `Subject="Grüße" body@20`},
		{"colon in value, empty name refused", ": x\r\n\r\n", `body@0 line that is not a header field@0`},
		{"body field not read", "Subject: x\r\n\r\nMessage-ID: <b@example.com>\r\n", `Subject="x" body@14`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summary(Parse([]byte(tt.raw))); got != tt.want {
				t.Errorf("Parse(%q)\ngot  %s\nwant %s", tt.raw, got, tt.want)
			}
		})
	}
}

func TestHeaderLookups(t *testing.T) {
	raw := []byte("from: a@example.com\r\nTo: x@example.com\r\nFROM: b@example.com\r\n\r\nbody")
	h := Parse(raw)
	if f, ok := h.Get("From"); !ok || f.Value() != "a@example.com" {
		t.Errorf("Get(From) = %q, %v", f.Value(), ok)
	}
	if _, ok := h.Get("Cc"); ok {
		t.Error("Get(Cc) found a field")
	}
	var got []string
	for _, f := range h.All("From") {
		got = append(got, f.Value())
	}
	if want := []string{"a@example.com", "b@example.com"}; !slices.Equal(got, want) {
		t.Errorf("All(From) = %q, want %q", got, want)
	}
	if string(raw[:h.End]) != "from: a@example.com\r\nTo: x@example.com\r\nFROM: b@example.com\r\n" {
		t.Errorf("raw[:End] = %q", raw[:h.End])
	}
	if h.Err() != nil {
		t.Errorf("Err() = %v", h.Err())
	}
	bad := Parse([]byte("X: a\rb\r\nX: \x00\r\n\r\n"))
	if err := bad.Err(); err == nil || err.Error() != "rfc5322: bare CR at offset 4" {
		t.Errorf("Err() = %v", err)
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"Message-ID: <abc@example.com>\r\n\r\n", "abc@example.com"},
		{"message-id:   <lower@example.com>  \n\n", "lower@example.com"},
		{"Message-ID:\r\n <folded@example.com>\r\n\r\n", "folded@example.com"},
		{"Message-ID: <split\r\n @example.com>\r\n\r\n", "split@example.com"},
		{"Message-ID: <a@example.com> (comment)\r\n\r\n", "a@example.com"},
		{"Message-ID: bare@example.com\r\n\r\n", "bare@example.com"},
		{"Message-ID: <first@example.com>\r\nMessage-ID: <second@example.com>\r\n\r\n", "first@example.com"},
		{"Message-ID:\r\n\r\n", ""},
		{"Subject: x\r\n\r\nMessage-ID: <in-body@example.com>\r\n", ""},
		{"no header end", ""},
	}
	for _, tt := range tests {
		if got := Parse([]byte(tt.raw)).MessageID(); got != tt.want {
			t.Errorf("MessageID(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestAddBcc(t *testing.T) {
	tests := []struct {
		name, raw string
		addrs     []string
		want      string
	}{
		{"new field in front", "To: a@example.com\r\n\r\nb", []string{"x@example.com", "y@example.com"},
			"Bcc: x@example.com, y@example.com\r\nTo: a@example.com\r\n\r\nb"},
		{"LF message keeps LF", "To: a@example.com\n\nb", []string{"x@example.com"}, "Bcc: x@example.com\nTo: a@example.com\n\nb"},
		{"merged into a folded Bcc", "To: a@example.com\r\nBcc: f@example.com,\r\n s@example.com\r\nSubject: x\r\n\r\nb", []string{"t@example.com"},
			"To: a@example.com\r\nBcc: f@example.com,\r\n s@example.com, t@example.com\r\nSubject: x\r\n\r\nb"},
		{"empty Bcc", "Bcc:\r\nTo: a@example.com\r\n\r\n", []string{"t@example.com"}, "Bcc: t@example.com\r\nTo: a@example.com\r\n\r\n"},
		{"Bcc on the last line without a line break", "To: a@example.com\r\nbcc: f@example.com", []string{"t@example.com"},
			"To: a@example.com\r\nbcc: f@example.com, t@example.com"},
		{"Bcc in the body is not the header's", "To: a@example.com\r\n\r\nBcc: f@example.com\r\n", []string{"t@example.com"},
			"Bcc: t@example.com\r\nTo: a@example.com\r\n\r\nBcc: f@example.com\r\n"},
		{"nothing to add", "To: a@example.com\r\n\r\n", nil, "To: a@example.com\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AddBcc([]byte(tt.raw), tt.addrs)); got != tt.want {
				t.Errorf("AddBcc\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestEnsureMessageID(t *testing.T) {
	tests := []struct{ name, in, id, want string }{
		{"added", "Subject: x\r\n\r\nbody\r\n", "id@h", "Message-ID: <id@h>\r\nSubject: x\r\n\r\nbody\r\n"},
		{"added with LF", "Subject: x\n\nbody\n", "id@h", "Message-ID: <id@h>\nSubject: x\n\nbody\n"},
		{"kept", "Message-Id: <own@h>\r\nSubject: x\r\n\r\nbody\r\n", "id@h", "Message-Id: <own@h>\r\nSubject: x\r\n\r\nbody\r\n"},
		{"kept when folded", "Subject: x\r\nMessage-ID:\r\n <own@h>\r\n\r\n", "id@h", "Subject: x\r\nMessage-ID:\r\n <own@h>\r\n\r\n"},
		{"only in the body", "Subject: x\r\n\r\nMessage-ID: <body@h>\r\n", "id@h", "Message-ID: <id@h>\r\nSubject: x\r\n\r\nMessage-ID: <body@h>\r\n"},
		{"empty field replaced", "Subject: x\r\nMessage-ID:\r\n  \r\nTo: a@h\r\n\r\n", "id@h", "Message-ID: <id@h>\r\nSubject: x\r\nTo: a@h\r\n\r\n"},
		{"no id to add", "Subject: x\r\n\r\n", "", "Subject: x\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(EnsureMessageID([]byte(tt.in), tt.id)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestNewMessageID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{24}\.[0-9]+@mail\.example\.com$`)
	a, b := NewMessageID("mail.example.com"), NewMessageID("mail.example.com")
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Errorf("NewMessageID = %q, %q: want two different <24 hex>.<unixnano>@mail.example.com", a, b)
	}
	if id := NewMessageID(""); !strings.HasSuffix(id, "@localhost") {
		t.Errorf("NewMessageID(\"\") = %q, want @localhost", id)
	}
}

func TestEnsureMessageIDAt(t *testing.T) {
	for _, tt := range []struct{ name, raw, id, want string }{
		{"added", "Subject: x\r\n\r\nbody\r\n", "a@b", "Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody\r\n"},
		{"kept", "Message-ID: <old@b>\r\n\r\nbody", "a@b", "Message-ID: <old@b>\r\n\r\nbody"},
		{"empty field replaced", "Message-ID:\r\nSubject: x\r\n\r\nb", "a@b", "Message-ID: <a@b>\r\nSubject: x\r\n\r\nb"},
		{"no id given", "Subject: x\r\n\r\nb", "", "Subject: x\r\n\r\nb"},
		{"empty message", "", "a@b", "Message-ID: <a@b>\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, size, err := EnsureMessageIDAt(strings.NewReader(tt.raw), int64(len(tt.raw)), tt.id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(io.NewSectionReader(r, 0, size))
			if err != nil || string(got) != tt.want || string(got) != string(EnsureMessageID([]byte(tt.raw), tt.id)) {
				t.Errorf("got %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}
