package graphmail

import (
	"encoding/base64"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file turns Unicode header text into 7-bit header syntax that any
// parser gets back exactly, whether go-message folded the line or not.
//
// The rule everywhere: "plain" text (printable ASCII, single spaces between
// words of at most 76 characters, no leading or trailing space, no "=?") is
// written as it is; anything else is RFC 2047 B-encoded by mimeBEncode, or,
// for file names, RFC 2231 encoded. The standard library's encoders are not
// used for text because they leave ASCII alone (so "a  b", a tab or a
// literal "=?…?=" would be altered by unfolding or decoding) and write
// 75-character words, which go-message cannot fold under 78 octets.

// mimeMaxPlainWord is the longest run of non-space characters written
// unencoded; a longer run cannot be folded into a short line.
const mimeMaxPlainWord = 76

// mimeIsPlain reports whether s can be written as is in a header.
func mimeIsPlain(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") || strings.Contains(s, "=?") {
		return false
	}
	word := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' {
			return false
		}
		if c == ' ' {
			word = 0
		} else if word++; word > mimeMaxPlainWord {
			return false
		}
	}
	return true
}

// mimeEncodeText encodes unstructured header text (Subject, extra headers).
func mimeEncodeText(s string) string {
	if mimeIsPlain(s) {
		return s
	}
	return mimeBEncode(s)
}

// mimeBEncode encodes all of s as RFC 2047 B encoded-words, split on rune
// boundaries and separated by spaces, where the header may be folded and
// which decoders drop. Words are at most 52 characters, so that one fits
// on a folded line even after "Subject: " or ` name="`.
func mimeBEncode(s string) string {
	// 30 bytes become 40 base64 characters; with "=?utf-8?b?" and "?=", 52.
	const chunk = 30
	var b strings.Builder
	for len(s) > 0 {
		n := min(len(s), chunk)
		for n < len(s) && n > 1 && !utf8.RuneStart(s[n]) {
			n--
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("=?utf-8?b?")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(s[:n])))
		b.WriteString("?=")
		s = s[n:]
	}
	return b.String()
}

// mimeFormatAddress formats a validated address as name-addr, or as
// "<addr-spec>" when there is no display name (as net/mail does). A plain
// name is quoted (by net/mail); any other is B-encoded.
func mimeFormatAddress(a Address) string {
	if mimeIsPlain(a.Name) {
		return (&mail.Address{Name: a.Name, Address: a.Address}).String()
	}
	return mimeBEncode(a.Name) + " " + (&mail.Address{Address: a.Address}).String()
}

func mimeFormatAddressList(list []Address) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = mimeFormatAddress(a)
	}
	return strings.Join(s, ", ")
}

// mimeFormatDisposition formats a Content-Disposition value with an
// optional filename. A plain name is written as a (quoted) string; any
// other in RFC 2231 extended notation, split into RFC 2231 continuations on
// character boundaries so that a long name still folds into short lines:
//
//	attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf
//	attachment; filename*0*=utf-8''%C3%9Cberweisung...; filename*1*=...
func mimeFormatDisposition(disp, filename string) string {
	if filename == "" {
		return disp
	}
	if mimeIsPlain(filename) {
		return mime.FormatMediaType(disp, map[string]string{"filename": filename})
	}
	const seg = 50
	var segs []string
	var cur strings.Builder
	for _, r := range filename {
		enc := mimePctEncode(string(r))
		if cur.Len()+len(enc) > seg {
			segs = append(segs, cur.String())
			cur.Reset()
		}
		cur.WriteString(enc)
	}
	segs = append(segs, cur.String())
	if len(segs) == 1 {
		return disp + "; filename*=utf-8''" + segs[0]
	}
	var b strings.Builder
	b.WriteString(disp)
	for i, s := range segs {
		b.WriteString("; filename*" + strconv.Itoa(i) + "*=")
		if i == 0 {
			b.WriteString("utf-8''")
		}
		b.WriteString(s)
	}
	return b.String()
}

// mimePctEncode percent-encodes every byte of s but letters, digits, "-",
// "." and "_" (a safe subset of RFC 2231 attribute-char).
func mimePctEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
