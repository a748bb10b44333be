package main

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// charsetAliases maps common other names (after charsetKey) to the key of
// the charmap.All name.
var charsetAliases = map[string]string{
	"latin1": "iso88591", "l1": "iso88591", "isolatin1": "iso88591",
	"latin2": "iso88592", "l2": "iso88592",
	"latin9": "iso885915", "l9": "iso885915",
	"cp1250": "windows1250", "cp1251": "windows1251", "cp1252": "windows1252",
	"cp1253": "windows1253", "cp1254": "windows1254", "cp1255": "windows1255",
	"cp1256": "windows1256", "cp1257": "windows1257", "cp1258": "windows1258",
	"cp874": "windows874", "cp437": "ibmcodepage437", "ibm437": "ibmcodepage437",
	"cp850": "ibmcodepage850", "ibm850": "ibmcodepage850",
	"cp866": "ibmcodepage866", "ibm866": "ibmcodepage866",
	"mac": "macintosh", "macroman": "macintosh",
}

// charsetKey lowercases name and drops everything but letters and digits,
// so "ISO-8859-1", "iso_8859-1" and "ISO 8859-1" are one key.
func charsetKey(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// charsetError is a --charset that graphmail cannot convert from.
type charsetError struct{ name string }

func (e *charsetError) Error() string {
	return fmt.Sprintf("--charset %s: unknown character set; give utf-8, us-ascii, iso-8859-1 … iso-8859-16, windows-1250 … windows-1258, koi8-r, koi8-u or macintosh", quoteShort(e.name))
}

// toUTF8 converts body from the character set named (--charset) to UTF-8.
// "" and utf-8 leave it as it is; us-ascii only checks it. Every
// single-byte set of golang.org/x/text/encoding/charmap is known by its
// name (iso-8859-1 … iso-8859-16, windows-1250 … windows-1258, koi8-r,
// koi8-u, macintosh, ibm code pages) and common aliases (latin1, cp1252).
// A body that is still not valid UTF-8 is a *bodyEncodingError.
func toUTF8(body []byte, name string) (string, error) {
	key := charsetKey(name)
	if a, ok := charsetAliases[key]; ok {
		key = a
	}
	switch key {
	case "", "utf8":
		return checkUTF8(body, name)
	case "ascii", "usascii":
		for i, c := range body {
			if c >= utf8.RuneSelf {
				return "", &bodyEncodingError{offset: i, b: c, charset: name}
			}
		}
		return string(body), nil
	}
	for _, enc := range charmap.All {
		cm, ok := enc.(*charmap.Charmap)
		if !ok || charsetKey(cm.String()) != key {
			continue
		}
		out, err := cm.NewDecoder().Bytes(body)
		if err != nil {
			return "", fmt.Errorf("--charset %s: %w", name, err)
		}
		return string(out), nil
	}
	return "", &charsetError{name: name}
}

// checkUTF8 returns body as a string if it is valid UTF-8.
func checkUTF8(body []byte, charset string) (string, error) {
	if utf8.Valid(body) {
		return string(body), nil
	}
	i := 0
	for i < len(body) {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		i += n
	}
	return "", &bodyEncodingError{offset: i, b: body[i], charset: charset}
}

// bodyEncodingError is a body whose bytes are not in the character set
// it should be in (UTF-8 without --charset).
type bodyEncodingError struct {
	offset  int
	b       byte
	charset string
}

func (e *bodyEncodingError) Error() string {
	if e.charset == "" {
		return fmt.Sprintf("the body is not valid UTF-8 (byte 0x%02x at offset %d)", e.b, e.offset)
	}
	return fmt.Sprintf("the body is not valid %s (byte 0x%02x at offset %d)", e.charset, e.b, e.offset)
}
