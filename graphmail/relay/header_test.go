package relay

import (
	"errors"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// headerCases are messages from a client allowed to send as
// app@example.com only. Each bypass of the header check that a second
// header reader made possible (net/mail in the check, another parser in
// delivery and Exchange) is here, refused.
var headerCases = []struct {
	name string
	raw  string
	want *smtp.SMTPError // nil: accepted
}{
	{"allowed From", "From: App <app@example.com>\r\nSubject: x\r\n\r\nbody\r\n", nil},
	{"allowed From, folded", "From: App\r\n <app@example.com>\r\nSubject: x\r\n\r\nbody\r\n", nil},
	{"allowed From and Sender", "From: app@example.com\r\nSender: app@example.com\r\n\r\nbody\r\n", nil},
	{"no sender field: the envelope was checked", "Subject: x\r\n\r\nbody\r\n", nil},
	{"From only in the body", "Subject: x\r\n\r\nFrom: ceo@example.com\r\n", nil},
	{"8-bit Subject", "From: app@example.com\r\nSubject: Grüße\r\n\r\nbody\r\n", nil},
	{"other From", "From: CEO <ceo@example.com>\r\n\r\nbody\r\n", ErrSenderRefused},
	{"other From after a fold", "From: app@example.com,\r\n ceo@example.com\r\n\r\nbody\r\n", ErrSenderRefused},
	{"lower-case name", "from: ceo@example.com\r\n\r\nbody\r\n", ErrSenderRefused},
	{"unreadable From", "From: <<<\r\n\r\nbody\r\n", ErrSenderRefused},
	{"space before the colon", "From : ceo@example.com\r\nSubject: x\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"tab before the colon", "From\t: app@example.com\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"space before the colon of Sender", "From: app@example.com\r\nSender : ceo@example.com\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"duplicate From, allowed first", "From: app@example.com\r\nFrom: ceo@example.com\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"duplicate From, both allowed", "From: app@example.com\r\nFROM: app@example.com\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"duplicate Sender", "From: app@example.com\r\nSender: app@example.com\r\nSender: ceo@example.com\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"bare CR hides a From", "X-Note: a\rFrom: ceo@example.com\r\nFrom: app@example.com\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"bare CR inside From", "From: app@example.com\rceo@example.com\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"NUL in the header", "From: app@example.com\r\nX-A: \x00\r\n\r\nbody\r\n", ErrAmbiguousHeader},
	{"other Sender", "From: app@example.com\r\nSender: ceo@example.com\r\n\r\nbody\r\n", ErrSenderRefused},
	{"other Resent-From", "From: app@example.com\r\nResent-From: ceo@example.com\r\n\r\nbody\r\n", ErrSenderRefused},
	{"other second Resent-From", "Resent-From: app@example.com\r\nResent-From: ceo@example.com\r\nFrom: app@example.com\r\n\r\nbody\r\n", ErrSenderRefused},
	{"other Resent-Sender", "From: app@example.com\r\nResent-Sender: ceo@example.com\r\n\r\nbody\r\n", ErrSenderRefused},
	{"allowed Resent-From", "From: app@example.com\r\nResent-From: app@example.com\r\n\r\nbody\r\n", nil},
	{"a line that is not a field hides a From", "From: app@example.com\r\nnot a field\r\nFrom: ceo@example.com\r\n\r\nbody\r\n", ErrBadMessage},
	{"no header at all", "just text\r\n", ErrBadMessage},
}

func TestCheckHeaderFrom(t *testing.T) {
	for _, tt := range headerCases {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHeaderFrom([]byte(tt.raw), []string{"app@example.com"})
			if tt.want == nil && err != nil || tt.want != nil && err != tt.want {
				t.Errorf("checkHeaderFrom(%q) = %v, want %v", tt.raw, err, tt.want)
			}
		})
	}
}

// TestHeaderBypassesRefused sends each message through a real session:
// the refused ones get their reply (554 5.6.0 for an ambiguous header) and
// never reach Submit.
func TestHeaderBypassesRefused(t *testing.T) {
	ts := start(t, Options{Accounts: map[string]Account{"app": {PasswordHash: bcryptOf(t, "pw"), AllowedFrom: []string{"app@example.com"}}}})
	for _, tt := range headerCases {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			if err := c.Auth(sasl.NewPlainClient("", "app", "pw")); err != nil {
				t.Fatal(err)
			}
			before := len(ts.in.all())
			err := send(c, "app@example.com", []string{"r@example.net"}, tt.raw)
			var se *smtp.SMTPError
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("send = %v, want accepted", err)
			case tt.want != nil && (!errors.As(err, &se) || se.Code != tt.want.Code || se.EnhancedCode != tt.want.EnhancedCode):
				t.Fatalf("send = %v, want %d %v", err, tt.want.Code, tt.want.EnhancedCode)
			}
			subs := ts.in.all()
			if got := len(subs) - before; tt.want == nil && got != 1 || tt.want != nil && got != 0 {
				t.Fatalf("%d submissions, want accepted=%v", got, tt.want == nil)
			}
			if tt.want == nil && string(subs[len(subs)-1].raw) != tt.raw {
				t.Errorf("bytes changed: %q", subs[len(subs)-1].raw)
			}
		})
	}
}
