package sendmailcompat

import (
	"net/mail"
	"strings"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// foldAt is the line length a rewritten field is folded at (RFC 5322
// section 2.1.1 recommends at most 78 characters).
const foldAt = 78

// RewriteHeaders returns raw with the local addresses in its To, Cc and
// Bcc fields replaced by what they resolve to (see [Aliases.Resolve]), for
// Graph, which delivers to the addresses of the header: "To: root" becomes
// "To: ops@contoso.com". An alias with one target keeps the display name
// ("Root <root>" becomes "Root <ops@contoso.com>"); targets that the
// field already names are not added again. A field without local
// addresses, and every other byte of raw, is kept as it is; a rewritten
// field keeps its name and its other mailboxes as written and is folded
// at 78 characters. A field that is not an address list is left alone.
//
// An unknown local name is an *UnknownRecipientError, an unusable alias an
// *AliasError; raw is then not rewritten.
func (a *Aliases) RewriteHeaders(raw []byte) ([]byte, error) {
	return resolver{a, a.localDomains()}.rewriteHeaders(raw)
}

// rewriteHeaders implements Aliases.RewriteHeaders.
func (r resolver) rewriteHeaders(raw []byte) ([]byte, error) {
	h := rfc5322.Parse(raw)
	var out []byte
	off := 0
	for _, f := range h.Fields {
		if !f.Is("To") && !f.Is("Cc") && !f.Is("Bcc") {
			continue
		}
		field := raw[f.Start:f.End]
		eol := h.EOL
		end := ""
		switch {
		case strings.HasSuffix(string(field), "\r\n"):
			end = "\r\n"
		case strings.HasSuffix(string(field), "\n"):
			end = "\n"
		}
		if end != "" {
			eol = end
		}
		v, changed, err := r.rewriteField(f.Name, f.Value(), eol)
		if err != nil {
			return nil, err
		}
		if !changed {
			continue
		}
		out = append(out, raw[off:f.Start]...)
		out = append(out, v+end...)
		off = f.End
	}
	if out == nil {
		return raw, nil
	}
	return append(out, raw[off:]...), nil
}

// rewriteField returns the field name: value with its local addresses
// resolved, without a final line ending and folded with eol, and whether
// anything changed. A value that is not an address list, or has no local
// address, is not changed.
func (r resolver) rewriteField(name, value, eol string) (string, bool, error) {
	pieces, ok := splitList(value)
	if !ok {
		return "", false, nil
	}
	boxes := make([]mailbox, len(pieces))
	local := make([]bool, len(pieces))
	named := map[string]bool{} // the field's other addresses
	found := false
	for i, p := range pieces {
		if p.kind != pieceMailbox {
			continue
		}
		m, err := parseMailbox(p.text)
		switch {
		case err != nil:
		case r.isLocal(m.Addr):
			boxes[i], local[i], found = m, true, true
		default:
			named[strings.ToLower(m.Addr)] = true
		}
	}
	if !found {
		return "", false, nil
	}
	var out []piece
	for i, p := range pieces {
		if !local[i] {
			out = append(out, p)
			continue
		}
		targets, err := r.resolve(boxes[i].Addr)
		if err != nil {
			return "", false, err
		}
		var add []string
		for _, t := range targets {
			if k := strings.ToLower(t); !named[k] {
				named[k] = true
				add = append(add, t)
			}
		}
		if len(add) == 1 && boxes[i].Name != "" {
			out = append(out, piece{kind: pieceMailbox, text: formatMailbox(boxes[i].Name, add[0])})
			continue
		}
		for _, t := range add {
			out = append(out, piece{kind: pieceMailbox, text: t})
		}
	}
	return renderList(name, out, eol), true, nil
}

// formatMailbox writes the mailbox "name <addr>", the display name quoted
// or encoded (RFC 2047) as needed.
func formatMailbox(name, addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local := addr[:at]
	if isQuotedString(local) {
		// net/mail takes the local part unquoted and quotes it itself.
		var b strings.Builder
		for i := 1; i < len(local)-1; i++ {
			if local[i] == '\\' {
				i++
			}
			b.WriteByte(local[i])
		}
		local = b.String()
	}
	a := mail.Address{Name: name, Address: local + addr[at:]}
	return a.String()
}

// renderList writes the field name: pieces, separated by commas and
// folded with eol before a mailbox that would pass foldAt.
func renderList(name string, pieces []piece, eol string) string {
	var b strings.Builder
	b.WriteString(name + ":")
	n := len(name) + 1 // length of the current line
	for i, p := range pieces {
		if p.kind == pieceGroupEnd {
			b.WriteString(";")
			n++
			continue
		}
		if i > 0 && pieces[i-1].kind != pieceGroup {
			b.WriteString(",")
			n++
		}
		if i > 0 && n+1+len(p.text) > foldAt {
			b.WriteString(eol + " ")
			n = 1
		} else {
			b.WriteString(" ")
			n++
		}
		b.WriteString(p.text)
		n += len(p.text)
	}
	return b.String()
}
