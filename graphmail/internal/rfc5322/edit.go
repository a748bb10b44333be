package rfc5322

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// AddBcc returns raw with addrs appended to its first Bcc field, or with a
// new Bcc field in front when it has none. Every other byte is kept; a new
// field ends with the message's own line ending (Header.EOL).
func AddBcc(raw []byte, addrs []string) []byte {
	if len(addrs) == 0 {
		return raw
	}
	h := Parse(raw)
	joined := strings.Join(addrs, ", ")
	f, ok := h.Get("Bcc")
	if !ok {
		return prepend(raw, h, "Bcc: "+joined)
	}
	// Insert before the field's final line break.
	at := f.End
	if at > f.Start && raw[at-1] == '\n' {
		at--
		if at > f.Start && raw[at-1] == '\r' {
			at--
		}
	}
	sep := ", "
	if f.Value() == "" {
		sep = " "
	}
	out := make([]byte, 0, len(raw)+len(sep)+len(joined))
	out = append(out, raw[:at]...)
	out = append(out, sep+joined...)
	return append(out, raw[at:]...)
}

// EnsureMessageID returns raw with a "Message-ID: <id>" field in front when
// it has no Message-ID field that names an identifier (Header.MessageID);
// a Message-ID field without one is removed, so that the message carries
// exactly id. Otherwise, or when id is empty, it returns raw unchanged.
func EnsureMessageID(raw []byte, id string) []byte {
	h := Parse(raw)
	if id == "" || h.MessageID() != "" {
		return raw
	}
	out := make([]byte, 0, len(raw)+len(id)+16)
	out = append(out, "Message-ID: <"+id+">"+h.EOL...)
	off := 0
	for _, f := range h.All("Message-ID") {
		out = append(out, raw[off:f.Start]...)
		off = f.End
	}
	return append(out, raw[off:]...)
}

// prepend returns raw with the field line (without its line ending) in
// front.
func prepend(raw []byte, h *Header, line string) []byte {
	out := make([]byte, 0, len(line)+len(h.EOL)+len(raw))
	out = append(out, line+h.EOL...)
	return append(out, raw...)
}

// NewMessageID returns a new unique Message-ID without angle brackets:
// "<24 hex digits>.<unix nanoseconds>@<host>", the random part from
// crypto/rand. An empty host means "localhost".
func NewMessageID(host string) string {
	if host == "" {
		host = "localhost"
	}
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:]) + "." + strconv.FormatInt(time.Now().UnixNano(), 10) + "@" + host
}

// AddField returns raw with a new field "name: value" in front of its
// header, in the message's own line ending. value must be one line.
func AddField(raw []byte, name, value string) []byte {
	return prepend(raw, Parse(raw), name+": "+value)
}
