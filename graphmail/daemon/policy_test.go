package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/relay"
)

func TestPolicyMailbox(t *testing.T) {
	cfg := &config.Config{Sender: "relay@contoso.com"}
	cfg.Serve.Accounts = map[string]config.Account{
		"scanner": {Mailbox: "scans@contoso.com"},
		"erp":     {AllowedFrom: []string{"erp@contoso.com", "@billing.contoso.com"}},
	}
	tests := []struct {
		name, mode, user, from string
		anon                   []string
		want                   string
	}{
		{name: "sender mode", mode: "sender", from: "erp@contoso.com", want: ""},
		{name: "account mailbox wins", mode: "sender", user: "scanner", from: "x@contoso.com", want: "scans@contoso.com"},
		{name: "from mode, account allows it", mode: "from", user: "erp", from: "ERP@contoso.com", want: "ERP@contoso.com"},
		{name: "from mode, account domain", mode: "from", user: "erp", from: "a@billing.contoso.com", want: "a@billing.contoso.com"},
		{name: "from mode, account does not allow it", mode: "from", user: "erp", from: "ceo@contoso.com", want: ""},
		{name: "from mode, anonymous, any sender: own domain only", mode: "from", from: "printer@contoso.com", want: "printer@contoso.com"},
		{name: "from mode, anonymous, any sender: other domain", mode: "from", from: "x@fabrikam.com", want: ""},
		{name: "from mode, anonymous list", mode: "from", anon: []string{"@fabrikam.com"}, from: "x@fabrikam.com", want: "x@fabrikam.com"},
		{name: "from mode, no From", mode: "from", from: "", want: ""},
		{name: "from mode, two From addresses", mode: "from", from: "a@contoso.com, b@contoso.com", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *cfg
			c.Serve.Mailbox = config.RelayMailbox(tt.mode)
			c.Serve.AllowedFrom = tt.anon
			p, err := newPolicy(&c)
			if err != nil {
				t.Fatal(err)
			}
			raw := "Subject: x\r\n\r\nbody\r\n"
			if tt.from != "" {
				raw = "From: " + tt.from + "\r\n" + raw
			}
			d, err := p.apply(relay.Envelope{From: "dev@contoso.com", To: []string{"a@example.com"}, User: tt.user, ClientAddr: netip.MustParseAddr("127.0.0.1")}, []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			if d.mailbox != tt.want {
				t.Errorf("mailbox %q, want %q", d.mailbox, tt.want)
			}
		})
	}
}

func TestPolicyRewrite(t *testing.T) {
	dir := t.TempDir()
	aliases := filepath.Join(dir, "aliases")
	if err := os.WriteFile(aliases, []byte("root: ops@contoso.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	printer := netip.MustParseAddr("10.1.2.3")
	tests := []struct {
		name     string
		rule     config.Rewrite
		client   netip.Addr
		user     string
		raw      string
		to       []string
		want     []string // substrings of the result
		wantNot  []string
		wantTo   []string
		mailbox  string
		unchange bool
	}{
		{name: "from forced to the mailbox, original kept as Reply-To",
			rule: config.Rewrite{FromMailbox: true, ReplyTo: true}, client: printer,
			raw:  "From: Printer <printer@x.local>\r\nSender: s@x.local\r\nSubject: scan\r\n\r\nbody\r\n",
			want: []string{"From: relay@contoso.com\r\n", "Reply-To: Printer <printer@x.local>\r\n"}, wantNot: []string{"Sender:", "From: Printer"}},
		{name: "Reply-To already there is kept",
			rule: config.Rewrite{FromMailbox: true, ReplyTo: true}, client: printer,
			raw:  "From: printer@x.local\r\nReply-To: desk@contoso.com\r\n\r\nbody\r\n",
			want: []string{"Reply-To: desk@contoso.com\r\n"}, wantNot: []string{"printer@x.local"}},
		{name: "display name holding @ dropped",
			rule: config.Rewrite{DropAddressNames: true}, client: printer,
			raw:  "From: printer@x <printer@x.local>\r\nTo: \"a@b\" <a@contoso.com>, Bob <bob@contoso.com>\r\n\r\nbody\r\n",
			want: []string{"From: <printer@x.local>\r\n", "To: <a@contoso.com>,\r\n Bob <bob@contoso.com>\r\n"}},
		{name: "subject prefix added once",
			rule: config.Rewrite{SubjectPrefix: "[scan] "}, client: printer,
			raw: "Subject: page 1\r\n\r\nbody\r\n", want: []string{"Subject: [scan] page 1\r\n"}},
		{name: "subject prefix already there",
			rule: config.Rewrite{SubjectPrefix: "[scan] "}, client: printer,
			raw: "Subject: [scan] page 1\r\n\r\nbody\r\n", unchange: true},
		{name: "non-ASCII prefix is an encoded word",
			rule: config.Rewrite{SubjectPrefix: "[Übung] "}, client: printer,
			raw: "Subject: x\r\n\r\nbody\r\n", want: []string{"Subject: =?utf-8?q?[=C3=9Cbung]_?= x\r\n"}},
		{name: "no Subject gets one",
			rule: config.Rewrite{SubjectPrefix: "[scan] "}, client: printer,
			raw: "From: a@contoso.com\r\n\r\nbody\r\n", want: []string{"Subject: [scan]\r\n"}},
		{name: "bare names qualified through aliases",
			rule: config.Rewrite{Qualify: true}, client: printer,
			raw: "To: root\r\n\r\nbody\r\n", to: []string{"root", "x@contoso.com"},
			want: []string{"ops@contoso.com"}, wantTo: []string{"ops@contoso.com", "x@contoso.com"}},
		{name: "rule for another network does nothing",
			rule: config.Rewrite{Nets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, SubjectPrefix: "[x] "}, client: printer,
			raw: "Subject: s\r\n\r\nbody\r\n", unchange: true},
		{name: "rule for the account applies",
			rule: config.Rewrite{Accounts: []string{"scanner"}, SubjectPrefix: "[x] "}, client: printer, user: "scanner",
			raw: "Subject: s\r\n\r\nbody\r\n", want: []string{"Subject: [x] s"}, mailbox: "scans@contoso.com"},
		{name: "from forced to the account's mailbox",
			rule: config.Rewrite{FromMailbox: true}, client: printer, user: "scanner",
			raw: "From: x@y.local\r\n\r\nbody\r\n", want: []string{"From: scans@contoso.com\r\n"}, mailbox: "scans@contoso.com"},
		{name: "bare LF message keeps its line ending",
			rule: config.Rewrite{FromMailbox: true, SubjectPrefix: "[s] "}, client: printer,
			raw: "From: x@y.local\nSubject: s\n\nbody\n", want: []string{"From: relay@contoso.com\n", "Subject: [s] s\n"}, wantNot: []string{"\r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Sender: "relay@contoso.com", Aliases: aliases}
			cfg.Serve.Accounts = map[string]config.Account{"scanner": {Mailbox: "scans@contoso.com"}}
			cfg.Serve.Rewrite = []config.Rewrite{tt.rule}
			p, err := newPolicy(cfg)
			if err != nil {
				t.Fatal(err)
			}
			to := tt.to
			if to == nil {
				to = []string{"a@contoso.com"}
			}
			d, err := p.apply(relay.Envelope{From: "dev@x.local", To: to, User: tt.user, ClientAddr: tt.client}, []byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			got := string(d.raw)
			if tt.unchange && got != tt.raw {
				t.Errorf("changed:\n%q\nwant\n%q", got, tt.raw)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("result lacks %q:\n%q", w, got)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("result has %q:\n%q", w, got)
				}
			}
			if tt.wantTo != nil && !slices.Equal(d.to, tt.wantTo) {
				t.Errorf("envelope %v, want %v", d.to, tt.wantTo)
			}
			if d.mailbox != tt.mailbox {
				t.Errorf("mailbox %q, want %q", d.mailbox, tt.mailbox)
			}
			if !strings.Contains(got, "body") {
				t.Errorf("body lost: %q", got)
			}
		})
	}
}

func TestPolicyUnknownLocalNameRefused(t *testing.T) {
	dir := t.TempDir()
	aliases := filepath.Join(dir, "aliases")
	if err := os.WriteFile(aliases, []byte("root: ops@contoso.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Sender: "relay@contoso.com", Aliases: aliases}
	cfg.Serve.Rewrite = []config.Rewrite{{Qualify: true}}
	p, err := newPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.apply(relay.Envelope{To: []string{"nobody"}}, []byte("To: nobody\r\n\r\nx\r\n"))
	if r := SubmitReply(err); r.Code != 550 {
		t.Errorf("unknown local name: %v → %d, want 550", err, r.Code)
	}
}

func FuzzPolicyRewrite(f *testing.F) {
	f.Add("From: printer@x <printer@x.local>\r\nSubject: s\r\nTo: a@b.c\r\n\r\nbody\r\n")
	f.Add("From: a\nSubject: =?utf-8?q?x?=\n\nbody")
	f.Add("From:\r\n\tfolded@x.y\r\nReply-To: <>\r\n\r\n")
	cfg := &config.Config{Sender: "relay@contoso.com"}
	cfg.Serve.Rewrite = []config.Rewrite{{FromMailbox: true, ReplyTo: true, DropAddressNames: true, SubjectPrefix: "[s] "}}
	p, err := newPolicy(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := p.apply(relay.Envelope{To: []string{"a@b.c"}}, []byte(raw))
		if err != nil {
			return
		}
		body := func(s string) string {
			if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
				return s[i+4:]
			}
			if i := strings.Index(s, "\n\n"); i >= 0 {
				return s[i+2:]
			}
			return ""
		}
		if b := body(raw); b != "" && !strings.HasSuffix(string(d.raw), b) {
			t.Errorf("body changed:\n%q\n%q", raw, d.raw)
		}
		if !strings.Contains(string(d.raw), "From: relay@contoso.com") {
			t.Errorf("From not forced: %q", d.raw)
		}
	})
}

func TestNonLoopback(t *testing.T) {
	nets := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"),
	}
	got := nonLoopback(nets)
	if want := []string{"10.1.2.0/24", "0.0.0.0/0", "::/0"}; !slices.Equal(got, want) {
		t.Errorf("nonLoopback = %v, want %v", got, want)
	}
}

func TestRelayMailboxes(t *testing.T) {
	cfg := &config.Config{Sender: "relay@contoso.com"}
	cfg.Serve.Accounts = map[string]config.Account{
		"scanner": {Mailbox: "scans@contoso.com"},
		"erp":     {AllowedFrom: []string{"erp@contoso.com", "@billing.contoso.com", "relay@contoso.com"}},
	}
	boxes, domains := RelayMailboxes(cfg)
	if !slices.Equal(boxes, []string{"scans@contoso.com"}) || domains != nil {
		t.Errorf("sender mode: %v %v, want the account's mailbox alone", boxes, domains)
	}
	cfg.Serve.Mailbox = config.MailboxFrom
	cfg.Serve.AllowedFrom = []string{"printer@contoso.com"}
	boxes, domains = RelayMailboxes(cfg)
	if want := []string{"scans@contoso.com", "printer@contoso.com", "erp@contoso.com"}; !slices.Equal(boxes, want) {
		t.Errorf("from mode: mailboxes %v, want %v", boxes, want)
	}
	if want := []string{"@billing.contoso.com"}; !slices.Equal(domains, want) {
		t.Errorf("from mode: domains %v, want %v", domains, want)
	}
	cfg.Serve.AllowedFrom = nil
	if _, domains = RelayMailboxes(cfg); !slices.Contains(domains, "@contoso.com") {
		t.Errorf("from mode, any sender: domains %v, want the sender's domain", domains)
	}
}
