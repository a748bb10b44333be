package smtpfallback

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest/smtpd"
)

// longestLine returns the length of msg's longest line, line ending not
// counted, and its number.
func longestLine(msg []byte) (n, at int) {
	for i, l := range bytes.Split(msg, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) > n {
			n, at = len(l), i+1
		}
	}
	return n, at
}

// leaf is a decoded leaf part, found by walkLeaves.
type leaf struct {
	path, mediaType string
	data            []byte
}

// walkLeaves decodes every leaf part of msg with the standard library's
// MIME readers (not the code under test) and lenient decoders of the
// transfer encodings.
func walkLeaves(msg []byte) ([]leaf, error) {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return nil, err
	}
	var out []leaf
	err = walkEntity(&out, textproto.MIMEHeader(m.Header), body, "1", false, false)
	return out, err
}

func walkEntity(out *[]leaf, h textproto.MIMEHeader, body []byte, path string, digest, inPart bool) error {
	mt := "text/plain"
	if digest {
		mt = "message/rfc822"
	}
	var boundary string
	if ct := h.Get("Content-Type"); ct != "" {
		t, params, err := mime.ParseMediaType(ct)
		if err != nil && err != mime.ErrInvalidMediaParameter {
			return err
		}
		mt, boundary = t, params["boundary"]
	}
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	identity := cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary"
	switch {
	case strings.HasPrefix(mt, "multipart/") && boundary != "":
		mr := multipart.NewReader(bytes.NewReader(body), boundary)
		for i := 1; ; i++ {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			data, err := io.ReadAll(p)
			if err != nil {
				return err
			}
			if err := walkEntity(out, p.Header, data, fmt.Sprintf("%s.%d", path, i), mt == "multipart/digest", true); err != nil {
				return err
			}
		}
	case (mt == "message/rfc822" || mt == "message/global") && identity:
		m, err := mail.ReadMessage(bytes.NewReader(body))
		if err != nil {
			return err
		}
		inner, err := io.ReadAll(m.Body)
		if err != nil {
			return err
		}
		return walkEntity(out, textproto.MIMEHeader(m.Header), inner, path+".1", false, inPart)
	}
	if !inPart {
		// The message's last line ending ends the message, not the text.
		body = bytes.TrimSuffix(body, []byte("\n"))
		body = bytes.TrimSuffix(body, []byte("\r"))
	}
	var data []byte
	switch {
	case identity:
		data = crlf(body)
	case cte == "base64":
		data = decodeBase64(body)
	case cte == "quoted-printable":
		data = decodeQP(body)
	default:
		data = body
	}
	*out = append(*out, leaf{path, mt, data})
	return nil
}

// crlf turns bare LFs into CRLF, as the wire does.
func crlf(b []byte) []byte {
	var out []byte
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// decodeBase64 decodes leniently: characters outside the alphabet are
// skipped, decoding stops at '='.
func decodeBase64(b []byte) []byte {
	var s []byte
	for _, c := range b {
		if c == '=' {
			break
		}
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			s = append(s, c)
		}
	}
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	out, err := base64.RawStdEncoding.DecodeString(string(s))
	if err != nil {
		panic(err)
	}
	return out
}

// decodeQP decodes quoted-printable leniently: trailing white space is
// dropped, a final '=' is a soft break, "=XX" (either case) is an octet and
// any other '=' is itself. Hard line breaks become CRLF.
func decodeQP(b []byte) []byte {
	var out []byte
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		l = bytes.TrimRight(bytes.TrimSuffix(l, []byte("\r")), " \t")
		soft := bytes.HasSuffix(l, []byte("="))
		if soft {
			l = l[:len(l)-1]
		}
		for j := 0; j < len(l); j++ {
			if l[j] == '=' && j+2 < len(l) && isHex(l[j+1]) && isHex(l[j+2]) {
				var v byte
				fmt.Sscanf(string(l[j+1:j+3]), "%02x", &v)
				out = append(out, v)
				j += 2
				continue
			}
			out = append(out, l[j])
		}
		if !soft && i < len(lines)-1 {
			out = append(out, '\r', '\n')
		}
	}
	return out
}

// checkReencode checks the invariants of reencode on in.
func checkReencode(t *testing.T, in []byte) []byte {
	t.Helper()
	out, changed, err := reencode(in)
	n, _ := longestLine(in)
	if n <= maxLine {
		if err != nil || changed || len(out) != len(in) || (len(in) > 0 && &out[0] != &in[0]) {
			t.Fatalf("message without long lines: changed %v, err %v; want it returned as is", changed, err)
		}
		return out
	}
	if err != nil {
		var le *LineLengthError
		if !errors.As(err, &le) || !le.BadMessage() || Temporary(err) {
			t.Fatalf("err = %s, want a permanent *LineLengthError", errString(err))
		}
		return nil
	}
	if n, at := longestLine(out); n > maxLine {
		t.Fatalf("output line %d is %d octets\n%q", at, n, out)
	}
	if again, changed, err := reencode(out); err != nil || changed || !bytes.Equal(again, out) {
		t.Fatalf("re-encoding the output changed it again (err %v)", err)
	}
	want, err := walkLeaves(in)
	if err != nil {
		return out // not MIME the standard library reads: nothing to compare
	}
	got, err := walkLeaves(out)
	if err != nil {
		t.Fatalf("output cannot be read as MIME: %v\n%q", err, out)
	}
	if len(got) != len(want) {
		t.Fatalf("output has %d leaf parts, input %d\nin:  %q\nout: %q", len(got), len(want), in, out)
	}
	for i := range want {
		if got[i].path != want[i].path || got[i].mediaType != want[i].mediaType || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("leaf %d: got %s %s %q\nwant %s %s %q\nout: %q", i, got[i].path, got[i].mediaType, got[i].data, want[i].path, want[i].mediaType, want[i].data, out)
		}
	}
	return out
}

var (
	long5000 = strings.Repeat("0123456789", 500)
	// longWords is over 998 octets with spaces to fold at.
	longWords = strings.TrimSpace(strings.Repeat("lorem ipsum dolor ", 100))
)

func TestReencode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want holds substrings the output must contain (after the
		// invariants hold), or wantErr the error's reason.
		want    []string
		notWant []string
		wantErr string
	}{
		{
			name: "no long line is untouched",
			in:   "Subject: short\n\nbody\n",
		},
		{
			name:    "plain text body becomes quoted-printable",
			in:      "Subject: printer\r\n\r\n" + long5000 + "\r\nend\r\n",
			want:    []string{"MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n0123", "=\r\n", "\r\nend\r\n"},
			notWant: []string{long5000},
		},
		{
			name: "8bit text keeps 7 bits",
			in:   "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + strings.Repeat("é", 600) + "\n",
			want: []string{"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\r\n\n=C3=A9"},
		},
		{
			name: "non-text becomes base64",
			in:   "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n\r\n" + long5000 + "\r\n",
			want: []string{"Content-Transfer-Encoding: base64\r\n\r\nMDEy"},
		},
		{
			name: "long base64 is re-wrapped",
			in:   "MIME-Version: 1.0\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(long5000)) + "\r\n",
			want: []string{"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(long5000))[:76] + "\r\n"},
		},
		{
			name:    "long quoted-printable is re-wrapped without splitting escapes",
			in:      "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + strings.Repeat("a=C3=A9-", 200) + "  \r\n",
			want:    []string{"a=C3=A9-a=C3=A9"},
			notWant: []string{"=\r\nC3", "=C=\r\n", "=\r\n-"},
		},
		{
			name: "long header is folded",
			in:   "Subject: " + longWords + "\r\nX-Other: " + longWords + "\r\n\r\nbody\r\n",
			want: []string{"\r\n lorem", "\r\n\r\nbody\r\n"},
		},
		{
			name:    "header without white space cannot be folded",
			in:      "Subject: short\r\nX-Token: " + long5000 + "\r\n\r\nbody\r\n",
			wantErr: "no white space",
		},
		{
			name: "multipart: only the part with the long line changes",
			in: "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n" +
				"--b1\r\nContent-Type: text/plain\r\n\r\nshort text\r\n" +
				"--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n" +
				"--b2\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 7bit\r\n\r\n<p>" + long5000 + "</p>\r\n" +
				"--b2--\r\n" +
				"--b1\r\nContent-Type: application/pdf\r\n\r\n%PDF " + long5000 + "\r\n" +
				"--b1--\r\nepilogue\r\n",
			want: []string{
				"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nshort text\r\n--b1\r\n",
				"--b2\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>0123",
				"</p>\r\n--b2--\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi",
				"\r\n--b1--\r\nepilogue\r\n",
			},
			notWant: []string{"MIME-Version: 1.0\r\nMIME-Version"},
		},
		{
			name: "message/rfc822 is walked into",
			in: "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
				"--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\n" + long5000 + "\r\n--b1--\r\n",
			want: []string{"Subject: inner\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"},
		},
		{
			name:    "signed message is refused",
			in:      "MIME-Version: 1.0\r\nContent-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\n" + long5000 + "\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n",
			wantErr: "multipart/signed",
		},
		{
			name: "signed message with a long top-level header is folded",
			in:   "Subject: " + longWords + "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; boundary=s\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nhi\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n",
			want: []string{"\r\n lorem", "--s\r\nContent-Type: text/plain\r\n\r\nhi\r\n--s\r\n"},
		},
		{
			name:    "unknown transfer encoding is refused",
			in:      "MIME-Version: 1.0\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" + long5000 + "\r\n",
			wantErr: "x-uuencode",
		},
		{
			name: "long preamble is split away from boundaries",
			in: "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
				strings.Repeat("x", maxLine) + "--b1 " + long5000 + "\r\n--b1\r\n\r\nhi\r\n--b1--\r\n",
			notWant: []string{"\r\n--b1 0"},
		},
		{
			name:    "dashes that would start a line are escaped",
			in:      "Subject: x\r\n\r\n" + strings.Repeat("-", 2000) + "\r\n",
			notWant: []string{"\r\n-"},
		},
		{
			name:    "multipart with an unreadable boundary is refused",
			in:      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\r\n\r\n--b1\r\n\r\n" + long5000 + "\r\n--b1--\r\n",
			wantErr: "without a boundary",
		},
		{
			name: "message ending in a bare CR",
			in:   "Subject: cr\r\n\r\n" + long5000 + "\r",
			want: []string{"\r\n\r\n0123", "6789\r"},
		},
		{
			name: "LF line endings",
			in:   "Subject: lf\n\n" + long5000 + "\nend\n",
			want: []string{"Content-Transfer-Encoding: quoted-printable\r\n\n0123", "=\r\n", "\r\nend\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			if tt.wantErr != "" {
				_, _, err := reencode(in)
				var le *LineLengthError
				if !errors.As(err, &le) || !strings.Contains(le.Reason, tt.wantErr) || le.Line < 1 || le.Length <= maxLine {
					t.Fatalf("err = %s, want *LineLengthError about %q", errString(err), tt.wantErr)
				}
				checkReencode(t, in)
				return
			}
			out := checkReencode(t, in)
			for _, w := range tt.want {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("output lacks %q\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if bytes.Contains(out, []byte(w)) {
					t.Errorf("output contains %q\n%s", w, out)
				}
			}
		})
	}
}

// TestReencodeKeepsLeaves checks that the re-encoded leaves decode, with the
// standard library, to the original content (checkReencode compares them).
func TestReencodeKeepsLeaves(t *testing.T) {
	in := []byte("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + strings.Repeat("ä ", 700) + "\r\nline 2 \r\n" +
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + long5000 + "\n" + long5000 + "\r\n" +
		"--b1--\r\n")
	out := checkReencode(t, in)
	leaves, err := walkLeaves(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) != 2 || string(leaves[0].data) != strings.Repeat("ä ", 700)+"\r\nline 2 " || string(leaves[1].data) != long5000+"\r\n"+long5000 {
		t.Errorf("leaves = %q", leaves)
	}
}

func FuzzReencode(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n" + long5000 + "\r\n"))
	f.Add([]byte("Subject: " + longWords + "\n\nbody\n"))
	f.Add([]byte("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		strings.Repeat("=41=\r\n", 3) + strings.Repeat("ab=3D-", 300) + "\r\n--b\r\nContent-Transfer-Encoding: base64\r\nContent-Type: image/gif\r\n\r\n" +
		strings.Repeat("R0lG", 300) + "\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in\n\n" + long5000 + "\n--d--\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// The fuzzer rarely makes a line over 998 octets: stretch one.
		if i := bytes.IndexByte(in, '~'); i >= 0 {
			in = bytes.Join([][]byte{in[:i], bytes.Repeat(in[i+1:min(len(in), i+3)], 600), in[i+1:]}, nil)
		}
		checkReencode(t, in)
		// The standard library's multipart reader expects one kind of line
		// ending; compare decoded leaves on a CRLF-only copy too.
		norm := bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r"), nil), []byte("\n"), []byte("\r\n"))
		checkReencode(t, norm)
	})
}

// TestE2ELongLines sends through the fake Exchange server: a message with a
// 5,000-octet line arrives re-encoded, with no line over 998 octets and the
// same decoded content; a message without one arrives byte for byte.
func TestE2ELongLines(t *testing.T) {
	srv, c := newE2E(t, smtpd.Options{TLSConfig: testCert().server}, &fakeTokens{tokens: []string{"good"}}, nil)
	env := Envelope{From: mailbox, To: []string{"a@fabrikam.example"}}
	long := []byte("From: scanner@contoso.com\r\nSubject: scan\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\n" + long5000 + "\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(long5000)) + "\r\n--b--\r\n")
	short := []byte("Subject: short\r\n\r\n" + strings.Repeat("x", maxLine) + "\r\n")

	r, err := c.Send(context.Background(), env, long)
	if err != nil || !r.Reencoded {
		t.Fatalf("Send long: %+v, %s; want success, Reencoded", r, errString(err))
	}
	r, err = c.Send(context.Background(), env, short)
	if err != nil || r.Reencoded {
		t.Fatalf("Send short: %+v, %s; want success, not Reencoded", r, errString(err))
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("server has %d messages, want 2", len(msgs))
	}
	if n, at := longestLine(msgs[0].Data); n > maxLine {
		t.Errorf("received line %d is %d octets", at, n)
	}
	want, _ := walkLeaves(long)
	got, err := walkLeaves(msgs[0].Data)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0].data, want[0].data) || !bytes.Equal(got[1].data, []byte(long5000)) {
		t.Errorf("received leaves %q (%v), want %q", got, err, want)
	}
	if !bytes.Equal(msgs[1].Data, short) {
		t.Errorf("short message changed on the way:\n%q", msgs[1].Data)
	}
}

// TestSendLineLengthError: a message that cannot be re-encoded is refused
// before anything is dialled.
func TestSendLineLengthError(t *testing.T) {
	tokens := &fakeTokens{tokens: []string{"tok-1"}}
	c, srv := scriptedClient(t, tokens, nil) // no script: a dial fails the test
	_, err := c.Send(context.Background(), testEnv, []byte("X-Blob: "+long5000+"\r\n\r\nbody\r\n"))
	c.Close()
	srv.wait()
	var le *LineLengthError
	if !errors.As(err, &le) || le.Line != 1 || le.Length != len("X-Blob: ")+len(long5000) || Temporary(err) {
		t.Fatalf("err = %s, want a permanent *LineLengthError for line 1", errString(err))
	}
	var bad interface{ BadMessage() bool }
	if !errors.As(err, &bad) || !bad.BadMessage() {
		t.Errorf("err does not report BadMessage")
	}
	if len(tokens.calls()) != 0 || srv.dials != 0 {
		t.Errorf("token calls %v, dials %d; want none", tokens.calls(), srv.dials)
	}
}

// FuzzReencodeMIME builds well-formed multipart messages around fuzzed part
// contents, so that the decoded-leaves invariant is checked on parts with
// long lines in every transfer encoding.
func FuzzReencodeMIME(f *testing.F) {
	f.Add([]byte("plain text "), []byte("\x00\x01 binary \xff"), uint8(0), uint16(700))
	f.Add([]byte("caf\xc3\xa9 -- =3D= \t"), []byte("R0lGODlh"), uint8(0x1b), uint16(400))
	f.Add([]byte("a=C3=A9-"), []byte("--b1 "), uint8(0x26), uint16(300))
	f.Fuzz(func(t *testing.T, a, b []byte, sel uint8, reps uint16) {
		n := int(reps%2000) + 1
		ctes := []string{"", "7bit", "8bit", "binary", "base64", "quoted-printable"}
		types := []string{"text/plain; charset=utf-8", "application/octet-stream", "message/rfc822", "text/html"}
		part := func(content []byte, sel uint8) string {
			cte, ct := ctes[int(sel)%len(ctes)], types[int(sel/8)%len(types)]
			body := string(bytes.Repeat(content, n))
			switch cte {
			case "base64":
				body = base64.StdEncoding.EncodeToString([]byte(body))
			case "quoted-printable":
				var qp []byte
				body = string(appendQP(qp, []byte(body)))
				body = strings.ReplaceAll(body, "=\r\n", "") // one long line
			}
			if ct == "message/rfc822" && (cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary") {
				body = "Subject: inner\r\n\r\n" + body
			}
			h := "Content-Type: " + ct + "\r\n"
			if cte != "" {
				h += "Content-Transfer-Encoding: " + cte + "\r\n"
			}
			return h + "\r\n" + body
		}
		msg := "MIME-Version: 1.0\r\nSubject: fuzz\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\npreamble\r\n" +
			"--b1\r\n" + part(a, sel) + "\r\n" +
			"--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\n" + part(b, sel>>3|sel<<5) + "\r\n--b2--\r\n" +
			"--b1--\r\n"
		checkReencode(t, []byte(msg))
	})
}
