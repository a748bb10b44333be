package rfc5322

import (
	"net/mail"
	"strings"
)

// AddressList parses an address field's value like net/mail's
// ParseAddressList, and also takes what legacy devices write and Graph
// refuses: a display name holding an unquoted "@" ("printer@x
// <printer@x.local>"). Such an element is read as its <address> alone (the
// name is dropped); anything else that does not parse is an error.
func AddressList(v string) ([]*mail.Address, error) {
	list, err := mail.ParseAddressList(v)
	if err == nil {
		return list, nil
	}
	elems := SplitAddressList(v)
	out := make([]*mail.Address, 0, len(elems))
	for _, e := range elems {
		a, perr := mail.ParseAddress(e)
		if perr != nil {
			lt := strings.LastIndexByte(e, '<')
			if lt <= 0 || !strings.HasSuffix(e, ">") || !strings.Contains(e[:lt], "@") {
				return nil, err
			}
			if a, perr = mail.ParseAddress(e[lt:]); perr != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// SplitAddressList splits an address list at the commas outside quoted
// strings, comments and angle brackets, trimming white space around each
// element.
func SplitAddressList(v string) []string {
	var out []string
	depth, angle, quoted, start := 0, false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && depth == 0 && !angle:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}
