package rfc5322

// Rewrite returns raw with header fields replaced or removed: edit sees
// each field in order and returns change false to keep it byte for byte,
// or change true with lines, the field's new text without its final line
// break ("" removes the field). New lines end with the message's own line
// ending (Header.EOL); lines holding more than one line must already use it.
// The body and every kept field are untouched.
func Rewrite(raw []byte, edit func(f *Field) (lines string, change bool)) []byte {
	h := Parse(raw)
	var out []byte
	off := 0
	for i := range h.Fields {
		f := &h.Fields[i]
		lines, change := edit(f)
		if !change {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(raw))
		}
		out = append(out, raw[off:f.Start]...)
		if lines != "" {
			out = append(out, lines...)
			out = append(out, h.EOL...)
		}
		off = f.End
	}
	if out == nil {
		return raw
	}
	return append(out, raw[off:]...)
}

// RemoveFields returns raw without the header fields named names (any
// case): Bcc and Resent-Bcc before a message leaves over SMTP, as
// Postfix's cleanup does.
func RemoveFields(raw []byte, names ...string) []byte {
	return Rewrite(raw, func(f *Field) (string, bool) {
		for _, n := range names {
			if f.Is(n) {
				return "", true
			}
		}
		return "", false
	})
}
