package sendmailcompat

import (
	"bytes"
	"errors"
	"net/mail"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// hasC0 reports whether s holds a byte below 0x20 or DEL.
func hasC0(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// FuzzParseArgs checks ParseArgs with argv given as NUL-separated words:
// it never panics, every error is a *UsageError, and the sender and the
// recipients it returns are addresses without control characters.
func FuzzParseArgs(f *testing.F) {
	for _, argv := range []string{
		"-FCronDaemon\x00-i\x00-odi\x00-oem\x00-oi\x00-t\x00-f\x00root",
		"-i\x00-FCronDaemon\x00-B8BITMIME\x00-oem\x00root",
		"-t\x00-i\x00-fbounce@example.com",
		"-oi\x00-oem\x00--\x00ops@example.com\x00-dash@example.com",
		"-f\x00me@x.com>\r\nContent-Type: text/html\r\nX-Injected: <\x00a@example.com",
		"a@example.com,\"Doe, John\" <j@example.com>,root",
		"--config=g.yaml\x00--set\x00log.level=debug\x00-C\x00x\x00-bp",
		"-q15m", "-qf", "-ti\x00-f<>\x00a@example.com", "Team: a@example.com;",
	} {
		f.Add(argv)
	}
	f.Fuzz(func(t *testing.T, argv string) {
		args := strings.Split(argv, "\x00")
		o, err := ParseArgs(args)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseArgs(%q) = %T %v, want *UsageError", args, err, err)
			}
			return
		}
		if hasC0(o.Sender) || (o.Sender != "" && !isAddrSpec(o.Sender)) {
			t.Fatalf("ParseArgs(%q): sender %q", args, o.Sender)
		}
		for _, r := range o.Recipients {
			if hasC0(r) || !isAddrSpec(r) {
				t.Fatalf("ParseArgs(%q): recipient %q", args, r)
			}
		}
		if hasC0(o.FullName) {
			t.Fatalf("ParseArgs(%q): name %q", args, o.FullName)
		}
		for _, s := range o.Set {
			if !strings.Contains(s, "=") {
				t.Fatalf("ParseArgs(%q): --set %q", args, s)
			}
		}
		if o.Mode != ModeSend && len(o.Recipients) > 0 {
			t.Fatalf("ParseArgs(%q): mode %v with recipients", args, o.Mode)
		}
	})
}

// FuzzReadAliases checks that ReadAliases never panics and fails only with
// an *AliasError, and that Resolve returns deduplicated, non-local
// addresses without control characters, or a typed error.
func FuzzReadAliases(f *testing.F) {
	f.Add([]byte(testAliases), "team")
	f.Add([]byte("root: admin\nadmin: root\n"), "root")
	f.Add([]byte("default: root\n"), "x@localhost")
	f.Add([]byte("a: b, c\nb: c, x@example.com\nc: Y <y@example.com>\n"), "A@web1")
	f.Add([]byte("r: \"|cmd, x\", :include:/x, \\r, /f\n  ,z@example.com\r\n"), "r")
	f.Fuzz(func(t *testing.T, data []byte, addr string) {
		a, err := ReadAliases(bytes.NewReader(data))
		if err != nil {
			var ae *AliasError
			if !errors.As(err, &ae) {
				t.Fatalf("ReadAliases = %T %v, want *AliasError", err, err)
			}
			return
		}
		if len(a.Warnings) > maxWarnings+1 {
			t.Fatalf("%d warnings", len(a.Warnings))
		}
		a.LocalDomains = []string{"web1"}
		names := []string{addr}
		for name := range a.entries {
			if len(names) == 20 {
				break
			}
			names = append(names, name)
		}
		for _, n := range names {
			got, err := a.Resolve(n)
			if err != nil {
				var ae *AliasError
				var u *UnknownRecipientError
				if !errors.As(err, &ae) && !errors.As(err, &u) {
					t.Fatalf("Resolve(%q) = %T %v", n, err, err)
				}
				continue
			}
			if !a.IsLocal(n) {
				if len(got) != 1 || got[0] != n {
					t.Fatalf("Resolve(%q) = %q, want it unchanged", n, got)
				}
				continue
			}
			if len(got) == 0 || len(got) > MaxAliasAddresses {
				t.Fatalf("Resolve(%q) = %d addresses", n, len(got))
			}
			seen := map[string]bool{}
			for _, g := range got {
				if hasC0(g) || !isAddrSpec(g) || a.IsLocal(g) || seen[strings.ToLower(g)] {
					t.Fatalf("Resolve(%q) = %q: bad, local or repeated %q", n, got, g)
				}
				seen[strings.ToLower(g)] = true
			}
		}
	})
}

// FuzzRewriteHeaders checks that RewriteHeaders never panics, changes
// nothing but To, Cc and Bcc fields, leaves no local address in them,
// introduces no control character or field, that a rewritten address list
// re-parses, and that a second rewrite changes nothing.
func FuzzRewriteHeaders(f *testing.F) {
	for _, s := range []string{
		"To: root\r\nSubject: Cron <root@host> x\r\n\r\nout\r\n",
		"To: Root <root>, other@example.com\r\nCc: team\r\n\r\n",
		"To: Admins: root, a@example.com;, b@example.com\nBcc: www-data@localhost\n\nx",
		"To: \"Doe, John\" <john@example.com>, root (Cron),\r\n\t=?utf-8?q?J=C3=B6rg?= <j@example.com>\r\n\r\n",
		"To: <<broken, root\r\n\r\n",
		"To: nobody\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	a, err := ReadAliases(strings.NewReader("root: ops@contoso.com\nteam: a@contoso.com, Bob <b@contoso.com>, root\nwww-data: web@contoso.com\n"))
	if err != nil {
		f.Fatal(err)
	}
	a.LocalDomains = []string{"web1"}
	isList := func(name string) bool {
		return strings.EqualFold(name, "to") || strings.EqualFold(name, "cc") || strings.EqualFold(name, "bcc")
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := a.RewriteHeaders(raw)
		if err != nil {
			var ae *AliasError
			var u *UnknownRecipientError
			if !errors.As(err, &ae) && !errors.As(err, &u) {
				t.Fatalf("RewriteHeaders = %T %v", err, err)
			}
			return
		}
		h0, h1 := rfc5322.Parse(raw), rfc5322.Parse(out)
		if len(h0.Fields) != len(h1.Fields) || !bytes.Equal(raw[h0.Body:], out[h1.Body:]) {
			t.Fatalf("RewriteHeaders(%q) = %q: fields or body changed", raw, out)
		}
		for i, f0 := range h0.Fields {
			f1 := h1.Fields[i]
			old, now := raw[f0.Start:f0.End], out[f1.Start:f1.End]
			if f0.Name != f1.Name {
				t.Fatalf("field %d: %q became %q", i, old, now)
			}
			if bytes.Equal(old, now) {
				continue
			}
			if !isList(f0.Name) {
				t.Fatalf("field %q rewritten to %q", old, now)
			}
			count := func(b []byte) (n int) {
				for _, c := range b {
					if c < 0x20 && c != '\r' && c != '\n' || c == 0x7f {
						n++
					}
				}
				return n
			}
			if count(now) > count(old) {
				t.Fatalf("control character added: %q became %q", old, now)
			}
			pieces, ok := splitList(f1.Value())
			if !ok {
				t.Fatalf("%q became %q, not an address list", old, now)
			}
			oldPieces, _ := splitList(f0.Value())
			allParsed := true
			for _, p := range oldPieces {
				if _, err := parseMailbox(p.text); p.kind == pieceMailbox && err != nil {
					allParsed = false
				}
			}
			for _, p := range pieces {
				if m, err := parseMailbox(p.text); p.kind == pieceMailbox && err == nil && a.IsLocal(m.Addr) {
					t.Fatalf("%q became %q, still with local %q", old, now, m.Addr)
				}
			}
			if _, err := mail.ParseAddressList(f1.Value()); allParsed && err != nil {
				t.Fatalf("%q became %q, which does not parse: %v", old, now, err)
			}
		}
		again, err := a.RewriteHeaders(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second rewrite of %q: %q, %v", out, again, err)
		}
	})
}

// FuzzPrepare checks that Prepare never panics, fails only with its typed
// errors, and produces CRLF text without a Bcc field.
func FuzzPrepare(f *testing.F) {
	f.Add([]byte("To: a@example.com\nBcc: b@example.com\n\nbody\n.\n"), true, false)
	f.Add([]byte("hi\r\n"), false, true)
	f.Add([]byte("To: root\nCc: Root <root@localhost>\nFrom: root (Cron Daemon)\n\nout\n"), true, true)
	d := defaults
	d.Aliases, _ = ReadAliases(strings.NewReader("root: ops@contoso.com\n"))
	f.Fuzz(func(t *testing.T, raw []byte, extract, ignoreDots bool) {
		opts := Options{ExtractRecipients: extract, IgnoreDots: ignoreDots, Recipients: []string{"r@example.com"}}
		env, out, err := Prepare(raw, opts, d)
		if err != nil {
			var me *MessageError
			var u *UnknownRecipientError
			var ae *AliasError
			if !errors.As(err, &me) && !errors.As(err, &u) && !errors.As(err, &ae) {
				t.Fatalf("Prepare = %T %v", err, err)
			}
			return
		}
		for _, to := range env.To {
			if hasC0(to) || !isAddrSpec(to) || d.Aliases.IsLocal(to) {
				t.Fatalf("envelope recipient %q", to)
			}
		}
		if strings.Count(string(out), "\n") != strings.Count(string(out), "\r\n") {
			t.Fatalf("bare LF in output %q", out)
		}
		if strings.Contains(strings.ToLower(string(out[:strings.Index(string(out), "\r\n\r\n")+2])), "\nbcc:") {
			t.Fatalf("Bcc header kept: %q", out)
		}
	})
}
