package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// redacted is what a non-empty Secret prints as.
const redacted = "[redacted]"

// Secret is a string that never prints. Every way of formatting it — String,
// GoString, fmt with any verb (%v, %+v, %#v, %s, %q, %x, …), JSON and text
// marshalling and slog — yields "[redacted]", or "" when the secret is empty
// so that "not set" stays visible in diagnostics. %q yields the quoted form
// ("\"[redacted]\"" or "\"\"").
//
// Reveal returns the value; call it only where the secret is handed to the
// code that uses it. Converting with string(s) also reveals it and is best
// avoided. A Secret does not unmarshal: JSON that went through MarshalJSON
// holds only the placeholder.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// shown is the printable stand-in for s.
func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string { return s.shown() }

// GoString returns "[redacted]", or "" for an empty secret.
func (s Secret) GoString() string { return s.shown() }

// Format implements fmt.Formatter so that no verb or flag can print the
// value. Width and the '-' flag are honoured for alignment.
func (s Secret) Format(f fmt.State, verb rune) {
	out := s.shown()
	if verb == 'q' {
		out = strconv.Quote(out)
	}
	if w, ok := f.Width(); ok && w > len(out) {
		pad := strings.Repeat(" ", w-len(out))
		if f.Flag('-') {
			out += pad
		} else {
			out = pad + out
		}
	}
	_, _ = f.Write([]byte(out))
}

// MarshalJSON returns the JSON string "[redacted]", or "" for an empty secret.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(s.shown())), nil
}

// MarshalText returns "[redacted]", or nothing for an empty secret.
func (s Secret) MarshalText() ([]byte, error) {
	return []byte(s.shown()), nil
}

// LogValue implements slog.LogValuer: loggers see "[redacted]", or "" for an
// empty secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }
