package daemon

import (
	"maps"
	"mime"
	"net/mail"
	"slices"
	"strings"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
	"github.com/graphmail/graphmail/graphmail/relay"
	"github.com/graphmail/graphmail/graphmail/sendmailcompat"
)

// policy decides, for a relayed message before it is queued, the mailbox
// it is sent through (serve.mailbox, an account's mailbox) and applies the
// header rules of serve.rewrite, like Postfix's cleanup with canonical and
// header_checks: once, at the door, so the queue holds what will leave.
type policy struct {
	sender   string // the sender mailbox
	mode     config.RelayMailbox
	anon     []string                  // serve.allowed_from
	accounts map[string]config.Account // with AllowedFrom defaulted
	rules    []config.Rewrite
	aliases  *sendmailcompat.Aliases // nil: no aliases file
}

// newPolicy reads the policy of cfg; the aliases file is read now, so a
// reload picks up its changes.
func newPolicy(cfg *config.Config) (*policy, error) {
	p := &policy{sender: cfg.Sender, mode: cfg.Serve.Mailbox, anon: cfg.Serve.AllowedFrom, rules: cfg.Serve.Rewrite, accounts: map[string]config.Account{}}
	for name, acc := range cfg.Serve.Accounts {
		if len(acc.AllowedFrom) == 0 {
			acc.AllowedFrom = []string{cfg.Sender}
		}
		p.accounts[name] = acc
	}
	if cfg.Aliases != "" && slices.ContainsFunc(p.rules, func(r config.Rewrite) bool { return r.Qualify }) {
		a, err := sendmailcompat.LoadAliases(cfg.Aliases)
		if err != nil {
			return nil, &config.Error{Key: "aliases", Problem: err.Error(), Hint: "fix the aliases file, or drop qualify from serve.rewrite"}
		}
		p.aliases = a
	}
	return p, nil
}

// decision is what the policy made of a relayed message.
type decision struct {
	mailbox string   // "" means the sender mailbox
	to      []string // the envelope recipients, qualified
	raw     []byte   // the message, rewritten
	rules   int      // how many rules applied
}

// apply decides the mailbox of a message relayed with env and rewrites it
// by the rules that match its client.
func (p *policy) apply(env relay.Envelope, raw []byte) (decision, error) {
	d := decision{to: env.To, raw: raw}
	var rules []config.Rewrite
	for _, r := range p.rules {
		if r.Matches(env.User, env.ClientAddr) {
			rules = append(rules, r)
		}
	}
	d.rules = len(rules)
	qualify := slices.ContainsFunc(rules, func(r config.Rewrite) bool { return r.Qualify })
	if qualify && p.aliases != nil {
		to, err := p.qualifyEnvelope(env.To)
		if err != nil {
			return d, err
		}
		d.to = to
		if d.raw, err = p.aliases.RewriteHeaders(d.raw); err != nil {
			return d, err
		}
	}
	d.mailbox = p.mailbox(env, d.raw)
	for _, r := range rules {
		d.raw = rewrite(d.raw, r, cmpOr(d.mailbox, p.sender))
	}
	return d, nil
}

// qualifyEnvelope resolves bare local names among to through the aliases.
func (p *policy) qualifyEnvelope(to []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, a := range to {
		list, err := p.aliases.Resolve(a)
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			if k := strings.ToLower(r); !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// mailbox is the mailbox the message is sent through: the account's own,
// else with serve.mailbox "from" the From address when the client may use
// it, else "" (the sender mailbox).
func (p *policy) mailbox(env relay.Envelope, raw []byte) string {
	allowed := p.anon
	if env.User != "" {
		acc := p.accounts[env.User]
		if acc.Mailbox != "" {
			return acc.Mailbox
		}
		allowed = acc.AllowedFrom
	}
	if p.mode != config.MailboxFrom {
		return ""
	}
	from := headerFrom(raw)
	if from == "" {
		return ""
	}
	if len(allowed) == 0 {
		// Any sender may be used: only a mailbox of the sender's own
		// domain is taken as the mailbox.
		_, sd, _ := strings.Cut(p.sender, "@")
		allowed = []string{"@" + sd}
	}
	if !addressMatches(from, allowed) {
		return ""
	}
	return from
}

// headerFrom returns the single address of the message's From field, or
// "" when there is none or more than one.
func headerFrom(raw []byte) string {
	f, ok := rfc5322.Parse(raw).Get("From")
	if !ok {
		return ""
	}
	list, err := rfc5322.AddressList(f.Value())
	if err != nil || len(list) != 1 {
		return ""
	}
	return list[0].Address
}

// addressMatches reports whether addr is one of patterns: an address, or
// "@domain" for every address of the domain (ignoring case).
func addressMatches(addr string, patterns []string) bool {
	_, domain, ok := strings.Cut(addr, "@")
	if !ok || domain == "" {
		return false
	}
	for _, p := range patterns {
		if d, ok := strings.CutPrefix(p, "@"); ok {
			if strings.EqualFold(d, domain) {
				return true
			}
		} else if strings.EqualFold(p, addr) {
			return true
		}
	}
	return false
}

// rewrite applies one rule to raw; mailbox is the mailbox it is sent
// through.
func rewrite(raw []byte, r config.Rewrite, mailbox string) []byte {
	h := rfc5322.Parse(raw)
	if r.FromMailbox {
		orig, hasFrom := h.Get("From")
		_, hasReplyTo := h.Get("Reply-To")
		raw = rfc5322.Rewrite(raw, func(f *rfc5322.Field) (string, bool) {
			if f.Is("From") || f.Is("Sender") {
				return "", true
			}
			return "", false
		})
		raw = rfc5322.AddField(raw, "From", mailbox)
		if r.ReplyTo && hasFrom && !hasReplyTo && !strings.EqualFold(headerAddr(orig.Value()), mailbox) {
			raw = rfc5322.AddField(raw, "Reply-To", strings.TrimSpace(orig.Value()))
		}
	}
	if r.DropAddressNames {
		raw = rfc5322.Rewrite(raw, func(f *rfc5322.Field) (string, bool) {
			for _, name := range []string{"From", "Sender", "Reply-To", "To", "Cc"} {
				if f.Is(name) {
					return dropAddressNames(f, h.EOL)
				}
			}
			return "", false
		})
	}
	if r.SubjectPrefix != "" {
		raw = prefixSubject(raw, r.SubjectPrefix)
	}
	return raw
}

// headerAddr returns the address of a one-address field value, or "".
func headerAddr(v string) string {
	a, err := mail.ParseAddress(v)
	if err != nil {
		return ""
	}
	return a.Address
}

// dropAddressNames rewrites an address field in which a display name
// contains "@" ("printer@x <printer@x.local>", which net/mail and Graph
// refuse): those elements become the bare "<address>"; every other element
// is kept as written. Fields without such a name are not changed.
func dropAddressNames(f *rfc5322.Field, eol string) (string, bool) {
	elems := rfc5322.SplitAddressList(f.Value())
	changed := false
	for i, e := range elems {
		lt := strings.LastIndexByte(e, '<')
		if lt <= 0 || !strings.HasSuffix(e, ">") {
			continue
		}
		if name := e[:lt]; strings.Contains(name, "@") {
			elems[i], changed = e[lt:], true
		}
	}
	if !changed {
		return "", false
	}
	return f.Name + ": " + strings.Join(elems, ","+eol+" "), true
}

// prefixSubject puts prefix in front of the Subject (adding a Subject
// when there is none) unless the decoded Subject already starts with it.
// A prefix that is not ASCII is written as an RFC 2047 encoded word.
func prefixSubject(raw []byte, prefix string) []byte {
	h := rfc5322.Parse(raw)
	enc := prefix
	if !isASCII(prefix) {
		enc = mime.QEncoding.Encode("utf-8", prefix)
		if strings.HasSuffix(prefix, " ") {
			enc += " "
		}
	}
	f, ok := h.Get("Subject")
	if !ok {
		return rfc5322.AddField(raw, "Subject", strings.TrimSpace(enc))
	}
	v := f.Value()
	if dec, err := new(mime.WordDecoder).DecodeHeader(v); err == nil && strings.HasPrefix(dec, prefix) {
		return raw
	}
	done := false
	return rfc5322.Rewrite(raw, func(g *rfc5322.Field) (string, bool) {
		if done || !g.Is("Subject") {
			return "", false
		}
		done = true
		return g.Name + ": " + enc + strings.TrimLeft(v, " \t"), true
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// RelayMailboxes lists the mailboxes the relay may send through besides
// the sender mailbox, for graphmail doctor to probe before a device
// sends: every account's mailbox, and with serve.mailbox "from" every
// address its allowed_from lists name. Domains are the "@domain" patterns
// of "from" mode, whose mailboxes cannot be listed.
func RelayMailboxes(cfg *config.Config) (mailboxes, domains []string) {
	seen := map[string]bool{strings.ToLower(cfg.Sender): true}
	add := func(list *[]string, v string) {
		if k := strings.ToLower(v); v != "" && !seen[k] {
			seen[k] = true
			*list = append(*list, v)
		}
	}
	names := slices.Sorted(maps.Keys(cfg.Serve.Accounts))
	for _, n := range names {
		add(&mailboxes, cfg.Serve.Accounts[n].Mailbox)
	}
	if cfg.Serve.Mailbox != config.MailboxFrom {
		return mailboxes, domains
	}
	patterns := slices.Clone(cfg.Serve.AllowedFrom)
	if len(patterns) == 0 {
		_, sd, _ := strings.Cut(cfg.Sender, "@")
		patterns = append(patterns, "@"+sd)
	}
	for _, n := range names {
		if acc := cfg.Serve.Accounts[n]; acc.Mailbox == "" {
			patterns = append(patterns, acc.AllowedFrom...)
		}
	}
	for _, p := range patterns {
		if strings.HasPrefix(p, "@") {
			add(&domains, p)
		} else {
			add(&mailboxes, p)
		}
	}
	return mailboxes, domains
}
