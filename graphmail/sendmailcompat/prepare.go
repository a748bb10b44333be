package sendmailcompat

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"
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
	// means random.
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
	header, body := splitHeader(lines)

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
	var kept []field
	has := map[string]bool{}
	for _, f := range header {
		name := strings.ToLower(f.name)
		has[name] = true
		if opts.ExtractRecipients && (name == "to" || name == "cc" || name == "bcc") {
			list, err := mail.ParseAddressList(f.value())
			if err != nil && strings.TrimSpace(f.value()) != "" {
				return env, nil, &MessageError{Problem: fmt.Sprintf("%s header: %v", f.name, err)}
			}
			for _, a := range list {
				add(a.Address)
			}
		}
		if name == "from" && !strings.Contains(f.value(), "@") {
			// An unqualified local sender ("root (Cron Daemon)"): sendmail
			// would add the local domain; the only mailbox graphmail may
			// send as is the configured one, so qualify to it and keep the
			// name people see.
			f = qualifiedFrom(f.value(), opts.FullName, d.From)
		}
		if name != "bcc" {
			kept = append(kept, f)
		}
	}
	if len(env.To) == 0 {
		return env, nil, &MessageError{Problem: "no recipients: give them on the command line, or use -t with To, Cc or Bcc headers"}
	}
	if env.From == "" {
		return env, nil, &MessageError{Problem: "no sender: use -f or configure the sender"}
	}

	var out bytes.Buffer
	for _, f := range kept {
		for _, l := range f.lines {
			out.WriteString(l + "\r\n")
		}
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
		id := ""
		if d.NewID != nil {
			id = d.NewID()
		} else {
			var b [12]byte
			rand.Read(b[:])
			id = fmt.Sprintf("%d.%s", d.Now.Unix(), hex.EncodeToString(b[:]))
		}
		host := d.Hostname
		if host == "" {
			host = "localhost"
		}
		out.WriteString("Message-ID: <" + id + "@" + host + ">\r\n")
	}
	out.WriteString("\r\n")
	for _, l := range body {
		out.WriteString(l + "\r\n")
	}
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

// field is a header field with its continuation lines, as they came.
type field struct {
	name  string
	lines []string
}

// value returns the unfolded value.
func (f field) value() string {
	_, v, _ := strings.Cut(strings.Join(f.lines, ""), ":")
	return strings.TrimSpace(v)
}

// splitHeader returns the header fields and the body lines. The header
// ends at the first empty line, or at the first line that is neither a
// field nor a continuation (then the body starts with that line).
func splitHeader(lines []string) ([]field, []string) {
	var fields []field
	for i, l := range lines {
		switch {
		case l == "":
			return fields, lines[i+1:]
		case (l[0] == ' ' || l[0] == '\t') && len(fields) > 0:
			fields[len(fields)-1].lines = append(fields[len(fields)-1].lines, l)
		case isFieldLine(l):
			name, _, _ := strings.Cut(l, ":")
			fields = append(fields, field{name: strings.TrimSpace(name), lines: []string{l}})
		default:
			return fields, lines[i:]
		}
	}
	return fields, nil
}

// isFieldLine reports whether l starts a header field: printable ASCII
// other than ':' and space, then ':'.
func isFieldLine(l string) bool {
	name, _, ok := strings.Cut(l, ":")
	name = strings.TrimRight(name, " \t") // "Subject :" is obsolete syntax but seen
	if !ok || name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// qualifiedFrom builds a From field for the mailbox addr from an
// unqualified From value such as "root (Cron Daemon)" or "www-data": the
// comment, else fullName, else the local name becomes the display name.
func qualifiedFrom(value, fullName, addr string) field {
	value = strings.TrimSpace(value)
	display := fullName
	if i, j := strings.Index(value, "("), strings.LastIndex(value, ")"); i >= 0 && j > i {
		display = strings.TrimSpace(value[i+1 : j])
	} else if display == "" {
		display = value
	}
	a := mail.Address{Name: display, Address: addr}
	return field{name: "From", lines: []string{"From: " + a.String()}}
}
