package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail"
)

func TestParseAddresses(t *testing.T) {
	bob := graphmail.Address{Name: "Smith, Bob", Address: "bob@example.com"}
	a := graphmail.Address{Address: "a@example.com"}
	b := graphmail.Address{Address: "b@example.com"}
	tests := []struct {
		name string
		in   []string
		want []graphmail.Address
		bad  bool
	}{
		{name: "one", in: []string{"a@example.com"}, want: []graphmail.Address{a}},
		{name: "repeated", in: []string{"a@example.com", "b@example.com"}, want: []graphmail.Address{a, b}},
		{name: "comma list", in: []string{"a@example.com,b@example.com"}, want: []graphmail.Address{a, b}},
		{name: "quoted comma", in: []string{`"Smith, Bob" <bob@example.com>`}, want: []graphmail.Address{bob}},
		{name: "bare comma in name", in: []string{"Smith, Bob <bob@example.com>"}, want: []graphmail.Address{bob}},
		{name: "list with quoted comma", in: []string{`a@example.com, "Smith, Bob" <bob@example.com>`}, want: []graphmail.Address{a, bob}},
		{name: "named", in: []string{"Ops Team <a@example.com>"}, want: []graphmail.Address{{Name: "Ops Team", Address: "a@example.com"}}},
		{name: "encoded word", in: []string{"=?utf-8?q?J=C3=BCrgen?= <a@example.com>"}, want: []graphmail.Address{{Name: "Jürgen", Address: "a@example.com"}}},
		{name: "unicode bare comma", in: []string{"Müller, Jörg <a@example.com>"}, want: []graphmail.Address{{Name: "Müller, Jörg", Address: "a@example.com"}}},
		{name: "blank skipped", in: []string{"", "  ", "a@example.com"}, want: []graphmail.Address{a}},
		{name: "trailing comma", in: []string{"a@example.com,"}, want: []graphmail.Address{a}},
		{name: "not an address", in: []string{"not an address"}, bad: true},
		{name: "CRLF header injection", in: []string{"a@example.com\r\nBcc: evil@example.net"}, bad: true},
		{name: "LF", in: []string{"a@example.com\nb@example.com"}, bad: true},
		{name: "NUL in name", in: []string{"\"x\x00y\" <a@example.com>"}, bad: true},
		{name: "NUL in address", in: []string{"a\x00@example.com"}, bad: true},
		{name: "bare comma, two angles", in: []string{"Smith, Bob <b@example.com> <c@example.com>"}, bad: true},
		{name: "bare comma, address in name", in: []string{"x@example.com, Bob <b@example.com"}, bad: true},
		{name: "bare comma, CRLF in name", in: []string{"Smith,\r\nBcc: Bob <b@example.com>"}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAddresses("to", tt.in)
			if tt.bad {
				var ie *inputError
				if !errors.As(err, &ie) {
					t.Fatalf("parseAddresses(%q) = %v, %v; want an *inputError", tt.in, got, err)
				}
				if !strings.HasPrefix(err.Error(), "--to: ") || strings.ContainsAny(err.Error(), "\r\n\x00") {
					t.Errorf("error %q: want a one-line message starting with --to:", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAddresses(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseAddresses(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("parseAddresses(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestParseAddressesHuge: a list of 20,000 addresses is read in one pass,
// and a huge bad value yields a short error.
func TestParseAddressesHuge(t *testing.T) {
	var sb strings.Builder
	const n = 20000
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("Person <p")
		sb.WriteString(strings.Repeat("x", i%7))
		sb.WriteString("@example.com>")
	}
	start := time.Now()
	got, err := parseAddresses("bcc", []string{sb.String()})
	if err != nil || len(got) != n {
		t.Fatalf("got %d addresses, %v; want %d", len(got), err, n)
	}
	t.Logf("%d addresses in %v", n, time.Since(start))

	_, err = parseAddresses("bcc", []string{sb.String() + ", broken"})
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("huge bad list: error %d bytes (%v); want a short error", len(err.Error()), err != nil)
	}
}

func TestAddressFlagAppends(t *testing.T) {
	var vals []string
	f := addressFlag{&vals}
	for _, s := range []string{"a@example.com", `"Smith, Bob" <bob@example.com>`} {
		if err := f.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if len(vals) != 2 || vals[1] != `"Smith, Bob" <bob@example.com>` {
		t.Fatalf("Set kept %q", vals)
	}
	if f.Type() != "addresses" || f.String() != `a@example.com, "Smith, Bob" <bob@example.com>` {
		t.Errorf("Type %q String %q", f.Type(), f.String())
	}
}

// FuzzParseAddresses: whatever the command line holds, parsing ends with
// addresses free of CR, LF and NUL, or an input error.
func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{"a@example.com", "Smith, Bob <bob@example.com>", `"Q, R" <q@x.com>, a@b.c`, "a@b.com\r\nBcc: x@y", "=?utf-8?q?=0D=0A?= <a@b.c>", "g: a@b.c;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseAddresses("to", []string{s})
		if err != nil {
			var ie *inputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *inputError", err)
			}
			return
		}
		for _, a := range got {
			if strings.ContainsAny(a.Address, "\r\n\x00") {
				t.Fatalf("address %q from %q", a.Address, s)
			}
		}
	})
}
