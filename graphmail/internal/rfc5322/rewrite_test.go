package rfc5322

import "testing"

func TestRemoveFields(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bcc and resent-bcc", "From: a@x\r\nBcc: hidden@x\r\nTo: b@x\r\nResent-Bcc:\r\n  other@x\r\n\r\nBcc: body@x\r\n", "From: a@x\r\nTo: b@x\r\n\r\nBcc: body@x\r\n"},
		{"nothing to remove", "From: a@x\nTo: b@x\n\nbody\n", "From: a@x\nTo: b@x\n\nbody\n"},
		{"case", "bcc: h@x\nTO: b@x\n\n", "TO: b@x\n\n"},
		{"last field without body", "To: b@x\r\nBcc: h@x", "To: b@x\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(RemoveFields([]byte(tt.in), "Bcc", "Resent-Bcc")); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRewriteReplaces(t *testing.T) {
	in := "From: a@x\r\nTo: one@x,\r\n two@x\r\nSubject: s\r\n\r\nbody"
	got := Rewrite([]byte(in), func(f *Field) (string, bool) {
		if f.Is("To") {
			return "To: two@x", true
		}
		return "", false
	})
	if want := "From: a@x\r\nTo: two@x\r\nSubject: s\r\n\r\nbody"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
