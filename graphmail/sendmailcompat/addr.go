package sendmailcompat

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// placeholderDomain qualifies a local name for net/mail, which needs an
// "@": "Root <root>" is parsed as "Root <root@graphmail.invalid>". The
// .invalid top-level domain (RFC 2606) is never a real mailbox.
const placeholderDomain = "graphmail.invalid"

// mailbox is one parsed address: Addr is an addr-spec ("a@example.com") or
// a local name ("root"), Name the display name or comment, if any.
type mailbox struct {
	Name, Addr string
}

// hasControl reports whether s holds a control character (C0, DEL or C1)
// or is not valid UTF-8.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// noTabs returns s with its tabs replaced by spaces.
func noTabs(s string) string { return strings.ReplaceAll(s, "\t", " ") }

// isAtext reports whether c may appear in an atom (RFC 5322 atext); bytes
// of UTF-8 sequences count when utf8ok (RFC 6532).
func isAtext(c byte, utf8ok bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c >= 0x80:
		return utf8ok
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isDotAtom reports whether s is a dot-atom: atoms joined by single dots.
func isDotAtom(s string, utf8ok bool) bool {
	if s == "" || !utf8.ValidString(s) || hasControl(s) {
		return false
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i], utf8ok) {
				return false
			}
		}
	}
	return true
}

// isLocalName reports whether s is an unqualified local name such as root,
// www-data or first.last: an ASCII dot-atom.
func isLocalName(s string) bool { return isDotAtom(s, false) }

// isQuotedString reports whether s is a quoted string (RFC 5322 section
// 3.2.4) without control characters.
func isQuotedString(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || hasControl(s) {
		return false
	}
	in := s[1 : len(s)-1]
	for i := 0; i < len(in); i++ {
		switch in[i] {
		case '\\':
			i++
			if i == len(in) {
				return false
			}
		case '"':
			return false
		}
	}
	return true
}

// isDomainLiteral reports whether s is "[" dtext "]", as in [192.0.2.1].
func isDomainLiteral(s string) bool {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c < '!' || c > '~' || c == '[' || c == ']' || c == '\\' {
			return false
		}
	}
	return true
}

// isAddrSpec reports whether s is exactly one addr-spec (local@domain, no
// display name, comment or white space outside a quoted local part) or a
// local name.
func isAddrSpec(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return isLocalName(s)
	}
	local, domain := s[:at], s[at+1:]
	return (isDotAtom(local, true) || isQuotedString(local)) && (isDotAtom(domain, true) || isDomainLiteral(domain))
}

// canonical writes the address net/mail returns (with an unquoted local
// part) as an addr-spec: a local part that is not a dot-atom is quoted.
func canonical(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local := addr[:at]
	if isDotAtom(local, true) {
		return addr
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + addr[at:]
}

// errNotAddress is the problem parseMailbox reports.
var errNotAddress = errors.New("not an address (want local@domain, <local@domain>, Name <local@domain> or a local name)")

// parseMailbox reads one mailbox of an address list: an addr-spec, an
// angle-addr with or without a display name, or the same with a local name
// in place of the addr-spec ("root", "Root <root>", "root (Cron Daemon)").
// The address returned is a valid addr-spec or local name without control
// characters.
func parseMailbox(s string) (mailbox, error) {
	if hasControl(noTabs(s)) { // a tab is folding white space
		return mailbox{}, errors.New("control character in address")
	}
	s = strings.TrimSpace(s)
	if t := unangle(s); isLocalName(t) {
		return mailbox{Addr: t}, nil
	}
	if a, err := mail.ParseAddress(s); err == nil {
		addr := canonical(a.Address)
		if !isAddrSpec(addr) || hasControl(noTabs(a.Name)) {
			return mailbox{}, errNotAddress
		}
		return mailbox{Name: a.Name, Addr: addr}, nil
	}
	// A local name with a display name or comment: qualify it with the
	// placeholder domain for net/mail, then take the domain off again.
	q, ok := qualifyLocal(s)
	if !ok {
		return mailbox{}, errNotAddress
	}
	a, err := mail.ParseAddress(q)
	if err != nil {
		return mailbox{}, errNotAddress
	}
	local, ok := strings.CutSuffix(a.Address, "@"+placeholderDomain)
	if !ok || !isLocalName(local) || hasControl(noTabs(a.Name)) {
		return mailbox{}, errNotAddress
	}
	return mailbox{Name: a.Name, Addr: local}, nil
}

// unangle returns s without one pair of enclosing angle brackets.
func unangle(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

// qualifyLocal inserts "@" + placeholderDomain after the local name of s:
// before the final ">" of "Name <root>", or after the only word outside
// comments of "root (Cron Daemon)".
func qualifyLocal(s string) (string, bool) {
	if strings.HasSuffix(s, ">") {
		lt := strings.LastIndexByte(s, '<')
		if lt < 0 || strings.ContainsAny(s[lt:], "@\"") {
			return "", false
		}
		return s[:len(s)-1] + "@" + placeholderDomain + ">", true
	}
	end, words := -1, 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			n, ok := skipComment(s[i:])
			if !ok {
				return "", false
			}
			i += n
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '(' {
				j++
			}
			words++
			end, i = j, j
		}
	}
	if words != 1 {
		return "", false
	}
	return s[:end] + "@" + placeholderDomain + s[end:], true
}

// skipComment returns the length of the comment at the start of s,
// nested comments and quoted pairs included.
func skipComment(s string) (int, bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// pieceKind says what a piece of an address list is.
type pieceKind int

const (
	pieceMailbox  pieceKind = iota // one mailbox, as written
	pieceGroup                     // a group's display name and colon: "Team:"
	pieceGroupEnd                  // the semicolon that ends a group
)

// piece is one part of an address list, its text as written without the
// white space around it.
type piece struct {
	kind pieceKind
	text string
}

// splitList splits an address list (RFC 5322 section 3.4) at the commas,
// colons and semicolons that separate its mailboxes and groups, outside
// quoted strings, comments, angle brackets and domain literals. Empty
// elements are dropped. It reports false for an unterminated quoted
// string, comment, angle-addr, domain literal or group, and for a group
// whose display name is not a phrase.
func splitList(v string) ([]piece, bool) {
	var out []piece
	start, depth := 0, 0
	quoted, angle, literal, group := false, false, false, false
	emit := func(end int) {
		if t := strings.TrimSpace(v[start:end]); t != "" {
			out = append(out, piece{kind: pieceMailbox, text: t})
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			i++
			continue
		case quoted:
			if c == '"' {
				quoted = false
			}
			continue
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
			continue
		case c == '"':
			quoted = true
			continue
		case c == '(':
			depth++
			continue
		case literal:
			literal = c != ']'
			continue
		case c == '[':
			literal = true
			continue
		case c == '<':
			angle = true
			continue
		case c == '>':
			angle = false
			continue
		case angle:
			continue
		}
		switch {
		case c == ',':
			emit(i)
			start = i + 1
		case c == ':' && !group:
			name := strings.TrimSpace(v[start:i])
			if _, err := mail.ParseAddressList(name + ":;"); name == "" || err != nil {
				return nil, false // the display name of a group is a phrase
			}
			out = append(out, piece{kind: pieceGroup, text: name + ":"})
			group, start = true, i+1
		case c == ';' && group:
			emit(i)
			out = append(out, piece{kind: pieceGroupEnd, text: ";"})
			group, start = false, i+1
		}
	}
	if quoted || depth > 0 || angle || literal || group {
		return nil, false
	}
	emit(len(v))
	return out, true
}

// splitTargets splits s at the commas outside double quotes, trimming
// white space; empty elements are dropped.
func splitTargets(s string) []string {
	var out []string
	start, quoted := 0, false
	flush := func(end int) {
		if t := strings.TrimSpace(s[start:end]); t != "" {
			out = append(out, t)
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			flush(i)
			start = i + 1
		}
	}
	flush(len(s))
	return out
}
