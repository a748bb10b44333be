package main

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/graphmail/graphmail/graphmail"
)

// addressFlag is the value of --to, --cc, --bcc and --reply-to: every use
// of the flag appends its text, read later by parseAddresses as an RFC 5322
// address list. Unlike pflag's StringSlice it does not split at commas
// itself (a CSV reader), so a quoted display name with a comma survives:
//
//	--to a@example.com --to b@example.com
//	--to 'a@example.com, b@example.com'
//	--to '"Smith, Bob" <bob@example.com>'
type addressFlag struct{ vals *[]string }

// Set appends one use of the flag.
func (f addressFlag) Set(s string) error {
	*f.vals = append(*f.vals, s)
	return nil
}

// String returns the uses so far, as a list.
func (f addressFlag) String() string { return strings.Join(*f.vals, ", ") }

// Type names the value in --help.
func (f addressFlag) Type() string { return "addresses" }

// addressHint is the hint for an address flag that is not a list.
const addressHint = `write addresses as user@example.com or 'Name <user@example.com>', several separated by commas; quote a name that has a comma: '"Smith, Bob" <bob@example.com>'`

// parseAddresses reads the uses of the address flag named flag: each is an
// RFC 5322 address list (net/mail), or a single "Last, First <address>"
// whose display name has a bare comma, as Outlook writes it. Blank uses are
// skipped. A value that is neither is an *inputError (exit 65).
func parseAddresses(flag string, vals []string) ([]graphmail.Address, error) {
	var out []graphmail.Address
	for _, v := range vals {
		if strings.TrimSpace(v) == "" {
			continue
		}
		list, err := graphmail.ParseAddressList(v)
		if err != nil {
			a, ok := commaNamed(v)
			if !ok {
				return nil, &inputError{err: fmt.Errorf("--%s: %s is not an e-mail address or a list of them", flag, quoteShort(v)), hint: addressHint}
			}
			list = []graphmail.Address{a}
		}
		out = append(out, list...)
	}
	return out, nil
}

// commaNamed reads s as one "Display, Name <address>": a display name
// with a bare comma (not an RFC 5322 phrase, which would need quotes)
// followed by one angle address and nothing else. The name then is quoted
// and the whole parsed by net/mail, so it gets the same checks as any
// other address.
func commaNamed(s string) (graphmail.Address, bool) {
	s = strings.TrimSpace(s)
	lt := strings.IndexByte(s, '<')
	if lt <= 0 || !strings.HasSuffix(s, ">") || strings.Count(s, "<") != 1 || strings.Count(s, ">") != 1 {
		return graphmail.Address{}, false
	}
	name := strings.TrimSpace(s[:lt])
	if !strings.Contains(name, ",") || strings.ContainsAny(name, "\"@\\<>()[]:;") {
		return graphmail.Address{}, false
	}
	quoted := (&mail.Address{Name: name, Address: "x@x"}).String()
	quoted = quoted[:len(quoted)-len(" <x@x>")]
	a, err := graphmail.ParseAddress(quoted + " " + s[lt:])
	if err != nil {
		return graphmail.Address{}, false
	}
	return a, true
}

// quoteShort quotes s for an error message, cut to 80 characters so that a
// huge argument does not flood the terminal.
func quoteShort(s string) string {
	const maxLen = 80
	if len(s) <= maxLen {
		return fmt.Sprintf("%q", s)
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
