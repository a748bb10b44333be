package smtpfallback

// The encoders behind the long-line re-encoding in longlines.go: header
// folding, quoted-printable and base64, written and re-wrapped.

import (
	"bytes"
	"encoding/base64"
)

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// appendFolded appends a header line (without its line ending) folded
// before white space (RFC 5322 §2.2.3) so that no line is over maxLine
// octets. Each new line starts with the white space it was folded at and
// neither it nor the line before is white space only, so unfolding gives
// back the original. ok is false if no such folding exists.
func appendFolded(out, line []byte) (_ []byte, ok bool) {
	last := len(line) - 1
	for last >= 0 && isWSP(line[last]) {
		last--
	}
	for len(line) > maxLine {
		first := 0
		for first < len(line) && isWSP(line[first]) {
			first++
		}
		cut := -1
		for i := min(maxLine, last); i > first; i-- {
			if isWSP(line[i]) {
				cut = i
				break
			}
		}
		if cut < 0 {
			return out, false
		}
		out = append(out, line[:cut]...)
		out = append(out, "\r\n"...)
		line, last = line[cut:], last-cut
	}
	return append(out, line...), true
}

const upperHex = "0123456789ABCDEF"

// appendQP appends text (lines ending in LF or CRLF) as quoted-printable:
// each line break becomes a hard CRLF, lines are at most 76 octets with soft
// breaks, everything but printable ASCII is escaped, and no line starts with
// '-' (which could be taken for a MIME boundary). No CRLF follows the last
// line.
func appendQP(out, text []byte) []byte {
	for n := 0; ; n++ {
		i := bytes.IndexByte(text, '\n')
		line := text
		if i >= 0 {
			line = text[:i]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
		}
		if n > 0 {
			out = append(out, "\r\n"...)
		}
		col := 0
		for j, c := range line {
			end := j == len(line)-1
			lit := (c > ' ' && c <= '~' && c != '=') || (isWSP(c) && !end)
			w := 1
			if !lit || (c == '-' && col == 0) {
				w = 3
			}
			if col+w > qpLine-1 && !(end && col+w <= qpLine) {
				out = append(out, "=\r\n"...)
				col = 0
				if c == '-' {
					w = 3
				}
			}
			if w == 1 {
				out = append(out, c)
			} else {
				out = append(out, '=', upperHex[c>>4], upperHex[c&15])
			}
			col += w
		}
		if i < 0 {
			return out
		}
		text = text[i+1:]
	}
}

// appendBase64 appends text as base64 in lines of 76 characters joined by
// CRLF, no CRLF after the last. Bare LFs in text become CRLF first, as they
// would have on the wire.
func appendBase64(out, text []byte) []byte {
	var chunk [57]byte // 76 characters of base64
	var enc [76]byte
	n, lines := 0, 0
	flush := func() {
		if lines > 0 {
			out = append(out, "\r\n"...)
		}
		base64.StdEncoding.Encode(enc[:], chunk[:n])
		out = append(out, enc[:base64.StdEncoding.EncodedLen(n)]...)
		n = 0
		lines++
	}
	put := func(c byte) {
		chunk[n] = c
		n++
		if n == len(chunk) {
			flush()
		}
	}
	for i, c := range text {
		if c == '\n' && (i == 0 || text[i-1] != '\r') {
			put('\r')
		}
		put(c)
	}
	if n > 0 {
		flush()
	}
	return out
}

// rewrapBase64 appends base64 text re-wrapped in lines of 76 characters
// joined by CRLF, white space dropped and every other octet kept.
func rewrapBase64(out, text []byte) []byte {
	col := 0
	for _, c := range text {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		if col == qpLine {
			out = append(out, "\r\n"...)
			col = 0
		}
		out = append(out, c)
		col++
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f'
}

// rewrapQP appends quoted-printable text, its lines joined by CRLF, with
// every line over maxLine octets split by soft line breaks into lines of at
// most 76. An =XX escape is never split; a '=' that starts no escape
// becomes =3D and a '-' that would start a line =2D (what a decoder reads
// is unchanged); white space at the end of a split line, which decoders
// drop, is dropped. No CRLF follows the last line.
func rewrapQP(out, text []byte) []byte {
	for n := 0; ; n++ {
		i := bytes.IndexByte(text, '\n')
		line := text
		if i >= 0 {
			line = text[:i]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
		}
		if n > 0 {
			out = append(out, "\r\n"...)
		}
		if len(line) <= maxLine {
			out = append(out, line...)
		} else {
			out = appendQPSplit(out, line)
		}
		if i < 0 {
			return out
		}
		text = text[i+1:]
	}
}

// appendQPSplit appends one long quoted-printable line split with soft line
// breaks; see rewrapQP.
func appendQPSplit(out, line []byte) []byte {
	line = bytes.TrimRight(line, " \t")
	col := 0
	for j := 0; j < len(line); {
		c, tok, adv := line[j], line[j:j+1], 1
		switch {
		case c == '=' && j+2 < len(line) && isHex(line[j+1]) && isHex(line[j+2]):
			tok, adv = line[j:j+3], 3
		case c == '=' && j == len(line)-1:
			// The line's own soft break.
		case c == '=':
			tok = []byte("=3D")
		}
		w := len(tok)
		if c == '-' && col == 0 {
			w = 3
		}
		last := j+adv == len(line)
		if col+w > qpLine-1 && !(last && col+w <= qpLine) {
			out = append(out, "=\r\n"...)
			col = 0
			if c == '-' {
				w = 3
			}
		}
		if w == 3 && c == '-' {
			out = append(out, "=2D"...)
		} else {
			out = append(out, tok...)
		}
		col += w
		j += adv
	}
	return out
}
