package main

import (
	"errors"
	"testing"
)

func TestToUTF8(t *testing.T) {
	tests := []struct {
		charset string
		in      string
		want    string
		err     string // "encoding", "charset" or ""
	}{
		{charset: "", in: "café", want: "café"},
		{charset: "", in: "caf\xe9", err: "encoding"},
		{charset: "utf-8", in: "caf\xc3", err: "encoding"},
		{charset: "UTF8", in: "ok", want: "ok"},
		{charset: "iso-8859-1", in: "caf\xe9 \xbd", want: "café ½"},
		{charset: "ISO_8859-1", in: "\xe9", want: "é"},
		{charset: "latin1", in: "\xe9", want: "é"},
		{charset: "windows-1252", in: "\x80 \x93x\x94", want: "€ “x”"},
		{charset: "cp1252", in: "\x80", want: "€"},
		{charset: "iso-8859-15", in: "\xa4", want: "€"},
		{charset: "latin9", in: "\xa4", want: "€"},
		{charset: "koi8-r", in: "\xf0\xd2\xc9", want: "При"},
		{charset: "windows-1251", in: "\xcf", want: "П"},
		{charset: "us-ascii", in: "plain", want: "plain"},
		{charset: "us-ascii", in: "caf\xe9", err: "encoding"},
		{charset: "klingon", in: "x", err: "charset"},
		{charset: "utf-16", in: "x", err: "charset"},
	}
	for _, tt := range tests {
		got, err := toUTF8([]byte(tt.in), tt.charset)
		var be *bodyEncodingError
		var ce *charsetError
		switch {
		case tt.err == "encoding" && !errors.As(err, &be),
			tt.err == "charset" && !errors.As(err, &ce),
			tt.err == "" && err != nil:
			t.Errorf("toUTF8(%q, %q) error = %v, want %s error", tt.in, tt.charset, err, tt.err)
		case tt.err == "" && got != tt.want:
			t.Errorf("toUTF8(%q, %q) = %q, want %q", tt.in, tt.charset, got, tt.want)
		}
	}
}

func TestBodyEncodingErrorOffset(t *testing.T) {
	_, err := toUTF8([]byte("héllo \xff"), "")
	if err == nil || err.Error() != "the body is not valid UTF-8 (byte 0xff at offset 7)" {
		t.Fatalf("error = %v", err)
	}
}
