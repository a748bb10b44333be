package sendmailcompat

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"testing"
)

const rewriteAliases = `root: ops@contoso.com
www-data: web@contoso.com
team: alice@contoso.com, bob@contoso.com
`

func TestRewriteHeaders(t *testing.T) {
	a := mustRead(t, rewriteAliases)
	a.LocalDomains = []string{"web1.example.com"}
	var many strings.Builder
	many.WriteString("many: ")
	for i := range 8 {
		fmt.Fprintf(&many, "someone.with.a.long.name%d@example.com, ", i)
	}
	big := mustRead(t, many.String())
	tests := []struct {
		name    string
		aliases *Aliases
		in      string
		want    string
	}{
		{"bare name", a, "To: root\r\nSubject: root\r\n\r\nroot\r\n", "To: ops@contoso.com\r\nSubject: root\r\n\r\nroot\r\n"},
		{"display name kept", a, "To: Root <root>, other@example.com\r\n\r\n", "To: \"Root\" <ops@contoso.com>, other@example.com\r\n\r\n"},
		{"comment as display name", a, "To: root (Cron Daemon)\r\n\r\n", "To: \"Cron Daemon\" <ops@contoso.com>\r\n\r\n"},
		{"localhost and host name", a, "Cc: www-data@localhost, ROOT@Web1.Example.com\r\n\r\n", "Cc: web@contoso.com, ops@contoso.com\r\n\r\n"},
		{"several targets drop the display name", a, "To: Team <team>\r\n\r\n", "To: alice@contoso.com, bob@contoso.com\r\n\r\n"},
		{"target already named", a, "To: root, OPS@contoso.com\r\n\r\n", "To: OPS@contoso.com\r\n\r\n"},
		{"other mailboxes as written", a, "To: \"Doe, John\" <john@example.com>, root,\r\n\t=?utf-8?q?J=C3=B6rg?= <j@example.com>\r\n\r\n",
			"To: \"Doe, John\" <john@example.com>, ops@contoso.com,\r\n =?utf-8?q?J=C3=B6rg?= <j@example.com>\r\n\r\n"},
		{"group", a, "To: Admins: root, a@example.com;, b@example.com\r\n\r\n", "To: Admins: ops@contoso.com, a@example.com;, b@example.com\r\n\r\n"},
		{"Bcc too, LF kept", a, "Bcc: root\nSubject: x\n\nbody\n", "Bcc: ops@contoso.com\nSubject: x\n\nbody\n"},
		{"non-ASCII display name", a, "To: Jörg <root>\r\n\r\n", "To: =?utf-8?q?J=C3=B6rg?= <ops@contoso.com>\r\n\r\n"},
		{"no final line break", a, "To: root", "To: ops@contoso.com"},
		{"folded at 78", big, "To: many\r\n\r\n",
			"To: someone.with.a.long.name0@example.com,\r\n someone.with.a.long.name1@example.com, someone.with.a.long.name2@example.com,\r\n" +
				" someone.with.a.long.name3@example.com, someone.with.a.long.name4@example.com,\r\n" +
				" someone.with.a.long.name5@example.com, someone.with.a.long.name6@example.com,\r\n someone.with.a.long.name7@example.com\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.aliases.RewriteHeaders([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("RewriteHeaders(%q)\ngot  %q\nwant %q", tt.in, out, tt.want)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if len(line) > 79 {
					t.Errorf("line longer than 78: %q", line)
				}
			}
		})
	}
}

func TestRewriteHeadersUnchanged(t *testing.T) {
	a := mustRead(t, rewriteAliases)
	for _, in := range []string{
		"To: a@example.com,\r\n\tb@example.com\r\nCc:  c@example.com \r\n\r\nTo: root\r\n",
		"To: undisclosed-recipients:;\r\n\r\n",
		"From: root\r\nReply-To: root\r\nSubject: to root\r\n\r\n",
		"To: <<broken, root\r\n\r\n", // not an address list: left to the caller
		"To:\r\n\r\n",
		"",
	} {
		out, err := a.RewriteHeaders([]byte(in))
		if err != nil || string(out) != in {
			t.Errorf("RewriteHeaders(%q) = %q, %v; want it unchanged", in, out, err)
		}
	}
}

func TestRewriteHeadersUnknown(t *testing.T) {
	a := mustRead(t, rewriteAliases)
	for _, aliases := range []*Aliases{a, nil} {
		out, err := aliases.RewriteHeaders([]byte("To: ops@example.com\r\nCc: nobody@localhost\r\n\r\n"))
		var u *UnknownRecipientError
		if !errors.As(err, &u) || u.Address != "nobody@localhost" || out != nil {
			t.Errorf("RewriteHeaders = %q, %v; want *UnknownRecipientError for nobody@localhost", out, err)
		}
	}
	_, err := mustRead(t, "root: root\n").RewriteHeaders([]byte("To: root\r\n\r\n"))
	var ae *AliasError
	if !errors.As(err, &ae) {
		t.Errorf("RewriteHeaders with a loop = %v, want *AliasError", err)
	}
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string // mailboxes as is, groups with their ":" and ";"
	}{
		{`a@x, "b, c" <b@x>, d@x (e, f), <g@[1,2]>`, []string{"a@x", `"b, c" <b@x>`, "d@x (e, f)", "<g@[1,2]>"}},
		{`Team: a@x, b@x;, c@x`, []string{"Team:", "a@x", "b@x", ";", "c@x"}},
		{`x:;`, []string{"x:", ";"}},
		{`, a@x ,,`, []string{"a@x"}},
		{`"a\" ,b" <c@x>, (nested (comment, here)) d@x`, []string{`"a\" ,b" <c@x>`, "(nested (comment, here)) d@x"}},
		{`<@route,@r2:a@x>`, []string{"<@route,@r2:a@x>"}},
	}
	for _, tt := range tests {
		got, ok := splitList(tt.in)
		var texts []string
		for _, p := range got {
			texts = append(texts, p.text)
		}
		if !ok || strings.Join(texts, "|") != strings.Join(tt.want, "|") {
			t.Errorf("splitList(%q) = %q, %v; want %q", tt.in, texts, ok, tt.want)
		}
	}
	for _, in := range []string{`"open`, `(open`, `<open`, `a@[open`, `Team: a@x`, `: a@x;`, `): root;`} {
		if got, ok := splitList(in); ok {
			t.Errorf("splitList(%q) = %v, want not ok", in, got)
		}
	}
}

func TestParseMailbox(t *testing.T) {
	tests := []struct {
		in, name, addr string
	}{
		{"root", "", "root"},
		{"<www-data>", "", "www-data"},
		{"Root <root>", "Root", "root"},
		{`"Cron, Daemon" <root>`, "Cron, Daemon", "root"},
		{"root (Cron Daemon)", "Cron Daemon", "root"},
		{"a@example.com", "", "a@example.com"},
		{"A <a@example.com>", "A", "a@example.com"},
		{`"john smith"@example.com`, "", `"john smith"@example.com`},
		{`"a\"b"@example.com`, "", `"a\"b"@example.com`},
		{"=?utf-8?q?J=C3=B6rg?= <j@example.com>", "Jörg", "j@example.com"},
		{"x@[192.0.2.1]", "", "x@[192.0.2.1]"},
		{"\tTab\tName <a@example.com>", "Tab Name", "a@example.com"},
	}
	for _, tt := range tests {
		m, err := parseMailbox(tt.in)
		if err != nil || m.Name != tt.name || m.Addr != tt.addr {
			t.Errorf("parseMailbox(%q) = %+v, %v; want %q %q", tt.in, m, err, tt.name, tt.addr)
		}
		if err == nil && !isAddrSpec(m.Addr) {
			t.Errorf("parseMailbox(%q) = %q, not an addr-spec", tt.in, m.Addr)
		}
	}
	for _, in := range []string{"", "a b", "root@", "@x", "a@@x", "a@x\r\n", "<root@>", "Root <ro ot>", `"a	b"@x`, "a@x, b@x", "(only a comment)"} {
		if m, err := parseMailbox(in); err == nil {
			t.Errorf("parseMailbox(%q) = %+v, want an error", in, m)
		}
	}
}

func TestFormatMailbox(t *testing.T) {
	for _, tt := range []struct{ name, addr, want string }{
		{"Ops", "ops@contoso.com", `"Ops" <ops@contoso.com>`},
		{"Ops", `"o p"@contoso.com`, `"Ops" <"o p"@contoso.com>`},
	} {
		got := formatMailbox(tt.name, tt.addr)
		if got != tt.want {
			t.Errorf("formatMailbox(%q, %q) = %q, want %q", tt.name, tt.addr, got, tt.want)
		}
		if a, err := mail.ParseAddress(got); err != nil || a.Name != tt.name {
			t.Errorf("%q does not parse back: %v", got, err)
		}
	}
}
