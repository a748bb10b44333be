package sendmailcompat

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// Defaults are what Prepare fills in when the message and the command line
// leave it out.
type Defaults struct {
	// From is the envelope sender without -f (or with a local -f such as
	// -f root), and the mailbox of a From header that is missing or local
	// (normally the configured sender mailbox).
	From string
	// Hostname is the right-hand side of a generated Message-ID.
	Hostname string
	// Now dates a message without a Date header.
	Now time.Time
	// NewID returns the left-hand side of a generated Message-ID; nil
	// means a new random one, in the format every graphmail path uses.
	NewID func() string
	// Aliases resolve local recipients; nil means none, so that every
	// local recipient is unknown.
	Aliases *Aliases
	// LocalDomains are host names whose addresses are local, in addition
	// to localhost and to Aliases.LocalDomains (see [Aliases.IsLocal]).
	LocalDomains []string
}

// resolver returns the resolver of d: its aliases, with the local domains
// of both d and the aliases.
func (d Defaults) resolver() resolver {
	return resolver{aliases: d.Aliases, domains: append(slices.Clip(d.LocalDomains), d.Aliases.localDomains()...)}
}

// Envelope is the sender and the recipients to deliver to.
type Envelope struct {
	From string
	To   []string
}

// MessageError is a message Prepare cannot send; the CLI exits 65
// (EX_DATAERR).
type MessageError struct {
	Problem string
}

// Error implements error.
func (e *MessageError) Error() string { return "sendmailcompat: " + e.Problem }

// Prepare turns what a program piped into sendmail into a message to send:
//
//   - line endings become CRLF;
//   - without IgnoreDots, a line holding only "." ends the message;
//   - a leading mbox "From " line is dropped;
//   - with ExtractRecipients, the To, Cc and Bcc headers add recipients;
//   - local recipients (root, www-data@localhost, see [Aliases.IsLocal])
//     on the command line, in the To, Cc and Bcc headers are resolved
//     through d.Aliases, and the envelope recipients deduplicated
//     (ignoring case); the To and Cc headers name the alias targets
//     instead (see [Aliases.RewriteHeaders]), as Graph delivers to them;
//   - a local envelope sender (-f root, -f root@localhost) becomes d.From:
//     as Postfix qualifies a bare sender with the local domain, graphmail
//     sends as its own mailbox, the only one it may send as; aliases are
//     for recipients and do not apply (nor do they in msmtp or Postfix);
//   - Bcc headers are removed (their recipients stay in the envelope);
//   - a missing From (with FullName as display name), Date or Message-ID
//     header is added, as sendmail does; a local From (root (Cron Daemon),
//     root@localhost) becomes d.From with the same display name.
//
// The rest of the message is not touched. A message without a header
// (echo hi | sendmail root) gets one.
//
// A local recipient without an alias is an *UnknownRecipientError, an
// unusable aliases file an *AliasError, an invalid recipient or sender in
// opts (ParseArgs refuses them already) a *UsageError, and a message that
// cannot be sent a *MessageError.
func Prepare(raw []byte, opts Options, d Defaults) (Envelope, []byte, error) {
	lines := splitLines(raw)
	if !opts.IgnoreDots {
		for i, l := range lines {
			if l == "." {
				lines = lines[:i]
				break
			}
		}
	}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "From ") {
		lines = lines[1:]
	}
	// Every line now ends with CRLF; the header ends at the first empty
	// line, or at the first line that is neither a field nor a
	// continuation (then the body starts with that line).
	var norm []byte
	for _, l := range lines {
		norm = append(norm, l+"\r\n"...)
	}
	h := rfc5322.Parse(norm)
	r := d.resolver()

	env := Envelope{From: opts.Sender}
	if env.From != "" && !isAddrSpec(env.From) {
		return env, nil, &UsageError{Arg: fmt.Sprintf("-f %q", env.From), Problem: "not a single address"}
	}
	if env.From == "" || r.isLocal(env.From) {
		env.From = d.From
	}
	seen := map[string]bool{}
	add := func(addr string) error {
		targets, err := r.resolve(addr)
		if err != nil {
			return err
		}
		for _, t := range targets {
			if k := strings.ToLower(t); !seen[k] {
				seen[k] = true
				env.To = append(env.To, t)
			}
		}
		return nil
	}
	for _, arg := range opts.Recipients {
		addrs, err := parseRecipientArg(arg)
		if err != nil {
			return env, nil, &UsageError{Arg: fmt.Sprintf("recipient %q", arg), Problem: err.Error()}
		}
		for _, a := range addrs {
			if err := add(a); err != nil {
				return env, nil, err
			}
		}
	}
	var out bytes.Buffer
	has := map[string]bool{}
	for _, f := range h.Fields {
		name := strings.ToLower(f.Name)
		has[name] = true
		if opts.ExtractRecipients && (name == "to" || name == "cc" || name == "bcc") {
			addrs, err := headerAddresses(f.Value())
			if err != nil {
				return env, nil, &MessageError{Problem: fmt.Sprintf("%s header: %v", f.Name, err)}
			}
			for _, a := range addrs {
				if err := add(a); err != nil {
					return env, nil, err
				}
			}
		}
		switch {
		case name == "bcc":
		case name == "to" || name == "cc":
			v, changed, err := r.rewriteField(f.Name, f.Value(), "\r\n")
			if err != nil {
				return env, nil, err
			}
			if changed {
				out.WriteString(v + "\r\n")
			} else {
				out.Write(norm[f.Start:f.End])
			}
		case name == "from" && (!strings.Contains(f.Value(), "@") || localFrom(f.Value(), r)):
			// A local sender ("root (Cron Daemon)", root@localhost):
			// sendmail would add the local domain; the only mailbox
			// graphmail may send as is the configured one, so qualify to
			// it and keep the name people see.
			out.WriteString("From: " + qualifiedFrom(f.Value(), opts.FullName, fromMailbox(d, env)) + "\r\n")
		default:
			out.Write(norm[f.Start:f.End])
		}
	}
	if len(env.To) == 0 {
		return env, nil, &MessageError{Problem: "no recipients: give them on the command line, or use -t with To, Cc or Bcc headers"}
	}
	if env.From == "" {
		return env, nil, &MessageError{Problem: "no sender: use -f or configure the sender"}
	}

	if !has["from"] {
		from := mail.Address{Name: opts.FullName, Address: env.From}
		out.WriteString("From: " + from.String() + "\r\n")
	}
	if !has["date"] {
		now := d.Now
		if now.IsZero() {
			now = time.Now()
		}
		out.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	}
	if !has["message-id"] {
		host := d.Hostname
		if host == "" {
			host = "localhost"
		}
		id := rfc5322.NewMessageID(host)
		if d.NewID != nil {
			id = d.NewID() + "@" + host
		}
		out.WriteString("Message-ID: <" + id + ">\r\n")
	}
	out.WriteString("\r\n")
	out.Write(norm[h.Body:])
	return env, out.Bytes(), nil
}

// headerAddresses returns the addresses of an address-list field value:
// addr-specs and local names.
func headerAddresses(v string) ([]string, error) {
	pieces, ok := splitList(v)
	if !ok {
		return nil, errors.New("not an address list")
	}
	var out []string
	for _, p := range pieces {
		if p.kind != pieceMailbox {
			continue
		}
		m, err := parseMailbox(p.text)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", clip(p.text), err)
		}
		out = append(out, m.Addr)
	}
	return out, nil
}

// localFrom reports whether the From value v is one mailbox with a local
// address (root@localhost, root@<host name>).
func localFrom(v string, r resolver) bool {
	m, err := parseMailbox(v)
	return err == nil && r.isLocal(m.Addr)
}

// fromMailbox is the mailbox a local From header is replaced with:
// d.From, else the envelope sender.
func fromMailbox(d Defaults, env Envelope) string {
	if d.From != "" {
		return d.From
	}
	return env.From
}

// splitLines splits raw at LF or CRLF; a final line without a newline
// counts as a line.
func splitLines(raw []byte) []string {
	s := string(raw)
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// qualifiedFrom builds a From value for the mailbox addr from a local
// From value such as "root (Cron Daemon)", "Root <root@localhost>" or
// "www-data": its display name or comment, else fullName, else the local
// name becomes the display name.
func qualifiedFrom(value, fullName, addr string) string {
	value = strings.TrimSpace(value)
	display := fullName
	if m, err := parseMailbox(value); err == nil {
		if m.Name != "" {
			display = m.Name
		} else if display == "" {
			display, _, _ = strings.Cut(m.Addr, "@")
		}
	} else if i, j := strings.Index(value, "("), strings.LastIndex(value, ")"); i >= 0 && j > i {
		display = strings.TrimSpace(value[i+1 : j])
	} else if display == "" {
		display = value
	}
	a := mail.Address{Name: display, Address: addr}
	return a.String()
}
