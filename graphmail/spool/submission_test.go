package spool

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSubmission(t *testing.T) {
	const msg = "Subject: x\r\n\r\nbody\r\n"
	rcpts := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "a@example.com"
		}
		return out
	}
	tests := []struct {
		name string
		env  Envelope
		raw  string
		want string // part of the problem; "" accepts
	}{
		{"plain", Envelope{From: "app@example.com", To: []string{"b@example.com"}}, msg, ""},
		{"null sender, local name, UTF-8, literal", Envelope{To: []string{"root", "jörg@bücher.example", "x@[192.0.2.1]"}}, msg, ""},
		{"LF only", Envelope{To: []string{"b@example.com"}}, "Subject: x\n\nbody\n", ""},
		{"no recipients", Envelope{From: "a@example.com"}, msg, "no envelope recipients"},
		{"too many recipients", Envelope{To: rcpts(4)}, msg, "4 envelope recipients, more than 3"},
		{"empty message", Envelope{To: []string{"b@example.com"}}, "", "empty message"},
		{"too large", Envelope{To: []string{"b@example.com"}}, msg + strings.Repeat("x", 51), "more than 70"},
		{"CRLF in sender", Envelope{From: "me@x.com\r\nX-Injected: x", To: []string{"b@example.com"}}, msg, "envelope sender contains a control character"},
		{"NUL in recipient", Envelope{To: []string{"b@example.com", "c\x00@example.com"}}, msg, "envelope recipient 2 contains a control character"},
		{"C1 control", Envelope{To: []string{"b\u0085@example.com"}}, msg, "control character"},
		{"space", Envelope{To: []string{"b @example.com"}}, msg, "white space"},
		{"two addresses", Envelope{To: []string{"b@example.com,c@example.com"}}, msg, `contains ','`},
		{"angle bracket", Envelope{To: []string{"<b@example.com>"}}, msg, `contains '<'`},
		{"second at", Envelope{To: []string{"b@c@example.com"}}, msg, "not a single address"},
		{"empty local part", Envelope{To: []string{"@example.com"}}, msg, "not a single address"},
		{"empty address", Envelope{To: []string{""}}, msg, "is empty"},
		{"long address", Envelope{To: []string{strings.Repeat("a", 250) + "@x.co"}}, msg, "longer than 254"},
		{"invalid UTF-8", Envelope{To: []string{"b\xff@example.com"}}, msg, "not valid UTF-8"},
		{"no header", Envelope{To: []string{"b@example.com"}}, "\r\njust a body\r\n", "no header"},
		{"body without header", Envelope{To: []string{"b@example.com"}}, "just a body\r\n", "line that is not a header field"},
		{"bare CR in header", Envelope{To: []string{"b@example.com"}}, "Subject: a\rBcc: x@evil.example\r\n\r\n", "bare CR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSubmission(tt.env, []byte(tt.raw), 70, 3)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *InvalidError
			if !errors.As(err, &ie) || !strings.Contains(ie.Problem, tt.want) {
				t.Fatalf("err = %v, want an *InvalidError saying %q", err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Errorf("the error repeats a control character: %q", err)
			}
		})
	}
}

func TestDecodeDrop(t *testing.T) {
	env := Envelope{From: "a@example.com", To: []string{"b@example.com"}}
	good, err := encodeDrop(env, []byte("Subject: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"empty":          nil,
		"queue file":     []byte(magic + `{"envelope":{"to":["b@example.com"]},"size":1}` + "\nx"),
		"no line end":    []byte(dropMagic + `{"envelope":{}}`),
		"bad json":       []byte(dropMagic + "{nope\nx"),
		"unknown field":  []byte(dropMagic + `{"envelope":{"to":["b@example.com"]},"size":1,"meta":{"client":"root"}}` + "\nx"),
		"truncated":      good[:len(good)-2],
		"trailing bytes": append(append([]byte(nil), good...), 'x'),
	}
	for name, data := range tests {
		var ie *InvalidError
		if _, _, err := decodeDrop(data); !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *InvalidError", name, err)
		}
	}
	gotEnv, raw, err := decodeDrop(good)
	if err != nil || string(raw) != "Subject: x\r\n\r\n" || gotEnv.From != env.From || len(gotEnv.To) != 1 {
		t.Errorf("good: %+v %q %v", gotEnv, raw, err)
	}
}

// FuzzDecodeDrop: a submission file is anybody's bytes. Decoding and
// checking never panic, and whatever passes is an envelope and a message
// that encode back to the same file.
func FuzzDecodeDrop(f *testing.F) {
	good, _ := encodeDrop(Envelope{From: "a@example.com", To: []string{"b@example.com", "root"}}, []byte("Subject: x\r\n\r\nbody"))
	f.Add(good)
	f.Add([]byte(dropMagic + `{"envelope":{"to":["b\r\n@x"]},"size":3}` + "\nS:x"))
	f.Add([]byte(dropMagic + `{"envelope":{"from":"<>","to":[]},"size":0}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, raw, err := decodeDrop(data)
		if err != nil {
			return
		}
		if err := checkSubmission(env, raw, DefaultMaxDropSize, DefaultMaxDropRecipients); err != nil {
			return
		}
		for _, a := range append([]string{env.From}, env.To...) {
			if strings.ContainsAny(a, "\r\n\x00 ,<>") {
				t.Fatalf("accepted address %q", a)
			}
		}
		again, err := encodeDrop(env, raw)
		if err != nil {
			t.Fatal(err)
		}
		env2, raw2, err := decodeDrop(again)
		if err != nil || string(raw2) != string(raw) || env2.From != env.From || strings.Join(env2.To, "\n") != strings.Join(env.To, "\n") {
			t.Fatalf("round trip: %+v %q %v", env2, raw2, err)
		}
	})
}
