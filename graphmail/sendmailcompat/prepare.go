package sendmailcompat

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// Defaults are what Prepare fills in when the message and the command line
// leave it out.
type Defaults struct {
	// From is the envelope sender without -f, and the From header of a
	// message without one (normally the configured sender mailbox).
	From string
	// Hostname is the right-hand side of a generated Message-ID.
	Hostname string
	// Now dates a message without a Date header.
	Now time.Time
	// NewID returns the left-hand side of a generated Message-ID; nil
	// means a new random one, in the format every graphmail path uses.
	NewID func() string
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
//   - Bcc headers are removed (their recipients stay in the envelope);
//   - a missing From (with FullName as display name), Date or Message-ID
//     header is added, as sendmail does.
//
// The rest of the message is not touched. A message without a header
// (echo hi | sendmail root) gets one.
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

	env := Envelope{From: opts.Sender}
	if env.From == "" {
		env.From = d.From
	}
	seen := map[string]bool{}
	add := func(addr string) {
		if k := strings.ToLower(addr); addr != "" && !seen[k] {
			seen[k] = true
			env.To = append(env.To, addr)
		}
	}
	for _, r := range opts.Recipients {
		// A command-line argument may hold several addresses, as with mailx.
		list, err := mail.ParseAddressList(r)
		if err != nil {
			if strings.ContainsAny(r, " ,<>\"") {
				return env, nil, &MessageError{Problem: fmt.Sprintf("recipient %q: %v", r, err)}
			}
			add(r) // a bare local name such as "root"
			continue
		}
		for _, a := range list {
			add(a.Address)
		}
	}
	var out bytes.Buffer
	has := map[string]bool{}
	for _, f := range h.Fields {
		name := strings.ToLower(f.Name)
		has[name] = true
		if opts.ExtractRecipients && (name == "to" || name == "cc" || name == "bcc") {
			list, err := mail.ParseAddressList(f.Value())
			if err != nil && f.Value() != "" {
				return env, nil, &MessageError{Problem: fmt.Sprintf("%s header: %v", f.Name, err)}
			}
			for _, a := range list {
				add(a.Address)
			}
		}
		switch {
		case name == "bcc":
		case name == "from" && !strings.Contains(f.Value(), "@"):
			// An unqualified local sender ("root (Cron Daemon)"): sendmail
			// would add the local domain; the only mailbox graphmail may
			// send as is the configured one, so qualify to it and keep the
			// name people see.
			out.WriteString("From: " + qualifiedFrom(f.Value(), opts.FullName, d.From) + "\r\n")
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

// qualifiedFrom builds a From value for the mailbox addr from an
// unqualified From value such as "root (Cron Daemon)" or "www-data": the
// comment, else fullName, else the local name becomes the display name.
func qualifiedFrom(value, fullName, addr string) string {
	value = strings.TrimSpace(value)
	display := fullName
	if i, j := strings.Index(value, "("), strings.LastIndex(value, ")"); i >= 0 && j > i {
		display = strings.TrimSpace(value[i+1 : j])
	} else if display == "" {
		display = value
	}
	a := mail.Address{Name: display, Address: addr}
	return a.String()
}
