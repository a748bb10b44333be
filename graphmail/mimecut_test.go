package graphmail

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"slices"
	"strings"
	"testing"
)

// pseudo returns n deterministic bytes that do not compress or repeat
// lines, like a scanned PDF.
func pseudo(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// b64lines is data in base64 with lines of width characters (0: one line).
func b64lines(data []byte, width int) string {
	s := base64.StdEncoding.EncodeToString(data)
	if width == 0 {
		return s
	}
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + "\r\n")
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}

func qp(data []byte) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	_, _ = w.Write(data)
	_ = w.Close()
	return b.String()
}

// crlf turns a template written with \n into CRLF lines.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const cutHeader = "From: Scanner <scan@example.com>\nTo: ops@example.com\nSubject: scan\nMessage-ID: <cut@example.com>\nMIME-Version: 1.0\n"

type cutCase struct {
	name  string
	raw   string
	limit int64
	// want: the cut parts' names, content types, inline flags, content IDs
	// and decoded content.
	want []Attachment
	// draftHas and draftLacks are substrings of the draft.
	draftHas, draftLacks []string
}

func cutCases() []cutCase {
	pdf := pseudo(20000, 1)
	img := pseudo(9000, 2)
	csv := []byte(strings.Repeat("Stra\xc3\x9fe;K\xc3\xb6ln;=;tab\there;a long line of text that quoted-printable must break somewhere, as it goes past 76 characters\n", 80))
	long := pseudo(100000, 3) // base64 on one line of 133 KB: longer than the scanner's buffer
	small := pseudo(300, 4)
	return []cutCase{
		{
			name: "single part",
			raw: crlf(cutHeader+"Content-Type: application/pdf; name=\"scan.pdf\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"scan.pdf\"\n\n") +
				b64lines(pdf, 76) + "\r\n",
			limit:      4096,
			want:       []Attachment{{Name: "scan.pdf", ContentType: "application/pdf", Content: pdf}},
			draftHas:   []string{"Subject: scan\r\n", "Content-Type: text/plain; charset=us-ascii\r\n\r\n"},
			draftLacks: []string{"application/pdf", "base64"},
		},
		{
			name: "mixed with a text body",
			raw: crlf(cutHeader+"Content-Type: multipart/mixed; boundary=\"b1\"\n\nThis is a multi-part message in MIME format.\n--b1\nContent-Type: text/plain; charset=utf-8\n\nScanned by the 3rd floor printer.\n--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=scan0001.pdf\n\n") +
				b64lines(pdf, 76) + crlf("\n--b1--\n"),
			limit:      4096,
			want:       []Attachment{{Name: "scan0001.pdf", ContentType: "application/pdf", Content: pdf}},
			draftHas:   []string{"Scanned by the 3rd floor printer.\r\n--b1--\r\n", "This is a multi-part"},
			draftLacks: []string{"scan0001.pdf"},
		},
		{
			name: "nested multipart with an inline image",
			raw: crlf(cutHeader+"Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/related; boundary=\"rel\"; type=\"multipart/alternative\"\n\n--rel\nContent-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/plain\n\nsee the logo\n--alt\nContent-Type: text/html\n\n<img src=\"cid:logo@x\">\n--alt--\n\n--rel\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(img, 76) + crlf("\n--rel--\n--outer\nContent-Type: application/pdf; name=report.pdf\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(pdf, 76) + crlf("\n--outer--\nepilogue\n"),
			limit: 4096,
			want: []Attachment{
				{Name: "attachment.png", ContentType: "image/png", Content: img, Inline: true, ContentID: "logo@x"},
				{Name: "report.pdf", ContentType: "application/pdf", Content: pdf},
			},
			draftHas:   []string{"see the logo\r\n--alt\r\n", "cid:logo@x\">\r\n--alt--\r\n\r\n--rel--\r\n--outer--\r\nepilogue"},
			draftLacks: []string{"image/png", "report.pdf"},
		},
		{
			name: "quoted-printable attachment, bare LF lines",
			raw: strings.ReplaceAll(cutHeader+"Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n\nbody\n--q\nContent-Type: text/csv; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\nContent-Disposition: attachment; filename=\"export.csv\"\n\n", "\r\n", "\n") +
				strings.ReplaceAll(qp(csv), "\r\n", "\n") + "\n--q--\n",
			limit:    4096,
			want:     []Attachment{{Name: "export.csv", ContentType: "text/csv", Content: csv}},
			draftHas: []string{"\n\nbody\n--q--\n"},
		},
		{
			name: "base64 on one long line",
			raw: crlf(cutHeader+"Content-Type: multipart/mixed; boundary=L\n\n--L\nContent-Type: text/plain\n\nhi\n--L\nContent-Type: application/octet-stream; name=\"blob.bin\"\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(long, 0) + crlf("\n--L--\n"),
			limit: 4096,
			want:  []Attachment{{Name: "blob.bin", ContentType: "application/octet-stream", Content: long}},
		},
		{
			name: "RFC 2231 and RFC 2047 file names",
			raw: crlf(cutHeader+"Content-Type: multipart/mixed; boundary=n\n\n--n\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment;\n filename*0*=UTF-8''%C3%BCber%20;\n filename*1=\"den Rhein.pdf\"\n\n") +
				b64lines(pdf, 76) + crlf("\n--n\nContent-Type: image/jpeg; name=\"=?UTF-8?B?w6TDtsO8LmpwZw==?=\"\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(img, 64) + crlf("\n--n\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"C:\\\\scans\\\\x.pdf\"\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(small, 76) + crlf("\n--n--\n"),
			limit: 2048,
			want: []Attachment{
				{Name: "über den Rhein.pdf", ContentType: "application/pdf", Content: pdf},
				{Name: "äöü.jpg", ContentType: "image/jpeg", Content: img},
			},
			draftHas: []string{"x.pdf"},
		},
		{
			name: "every part cut keeps an empty one",
			raw: crlf(cutHeader+"Content-Type: multipart/mixed; boundary=e\n\n--e\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(pdf, 76) + crlf("\n--e--\n"),
			limit:    2048,
			want:     []Attachment{{Name: "a.pdf", ContentType: "application/pdf", Content: pdf}},
			draftHas: []string{"boundary=e\r\n\r\n--e\r\n\r\n\r\n--e--\r\n"},
		},
		{
			name: "only what is needed is cut, largest first",
			raw: crlf(cutHeader+"Content-Type: multipart/mixed; boundary=s\n\n--s\nContent-Type: image/png; name=small.png\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(small, 76) + crlf("\n--s\nContent-Type: application/pdf; name=big.pdf\nContent-Transfer-Encoding: base64\n\n") +
				b64lines(pdf, 76) + crlf("\n--s--\n"),
			limit:    4096,
			want:     []Attachment{{Name: "big.pdf", ContentType: "application/pdf", Content: pdf}},
			draftHas: []string{"small.png"},
		},
	}
}

func TestPlanDraft(t *testing.T) {
	for _, tt := range cutCases() {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.NewReader(tt.raw)
			plan, err := planDraft(src, int64(len(tt.raw)), tt.limit)
			if err != nil {
				t.Fatalf("planDraft: %v", err)
			}
			if n := base64Len(int64(len(plan.draft))); n > tt.limit {
				t.Errorf("draft's base64 is %d bytes, over the limit %d", n, tt.limit)
			}
			var got []Attachment
			for _, p := range plan.cut {
				a, err := partAttachment(src, p)
				if err != nil {
					t.Fatalf("partAttachment: %v", err)
				}
				got = append(got, a)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("cut %d parts, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				content := openAll(t, g)
				if g.Name != w.Name || g.ContentType != w.ContentType || g.Inline != w.Inline || g.ContentID != w.ContentID {
					t.Errorf("part %d: got %q %q inline=%v cid=%q, want %q %q inline=%v cid=%q", i, g.Name, g.ContentType, g.Inline, g.ContentID, w.Name, w.ContentType, w.Inline, w.ContentID)
				}
				if g.Size != int64(len(w.Content)) || !bytes.Equal(content, w.Content) {
					t.Errorf("part %d: got %d bytes (Size %d), want %d; equal=%v", i, len(content), g.Size, len(w.Content), bytes.Equal(content, w.Content))
				}
			}
			for _, s := range tt.draftHas {
				if !bytes.Contains(plan.draft, []byte(s)) {
					t.Errorf("draft lacks %q:\n%s", s, plan.draft)
				}
			}
			for _, s := range tt.draftLacks {
				if bytes.Contains(plan.draft, []byte(s)) {
					t.Errorf("draft has %q:\n%s", s, plan.draft)
				}
			}
			if err := checkReassembly([]byte(tt.raw), plan, got); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPlanDraftNotCuttable: what no cut brings under the limit is left
// whole, for the fallback or a *TooLargeError.
func TestPlanDraftNotCuttable(t *testing.T) {
	big := b64lines(pseudo(20000, 5), 76)
	for _, tt := range []struct{ name, raw string }{
		{"a large text body", crlf(cutHeader+"Content-Type: text/plain\n\n") + big},
		{"a large text body beside an attachment", crlf(cutHeader+"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\n") + big + crlf("\n--x\nContent-Type: application/pdf\n\nsmall\n--x--\n")},
		{"no MIME at all", crlf(cutHeader+"\n") + big},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planDraft(strings.NewReader(tt.raw), int64(len(tt.raw)), 4096)
			if err != errNotCuttable {
				t.Errorf("got %v, want errNotCuttable", err)
			}
		})
	}
}

func openAll(t testing.TB, a Attachment) []byte {
	t.Helper()
	rc, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leafDigests decodes every non-empty leaf part of raw and returns their
// digests, sorted.
func leafDigests(raw []byte) ([]string, error) {
	root, err := scanMIME(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, err
	}
	var out []string
	var derr error
	root.walkLeaves(func(p *rawPart) {
		b, err := io.ReadAll(partDecoder(io.NewSectionReader(bytes.NewReader(raw), p.body, p.end-p.body), p.encoding))
		if err != nil {
			derr = err
		}
		if len(b) > 0 {
			out = append(out, fmt.Sprintf("%x", sha256.Sum256(b)))
		}
	})
	slices.Sort(out)
	return out, derr
}

// checkReassembly checks that the draft's parts and the cut parts decode
// to the original's parts.
func checkReassembly(raw []byte, plan *draftPlan, cut []Attachment) error {
	want, err := leafDigests(raw)
	if err != nil {
		return nil // undecodable parts are never cut (planLargeMIME)
	}
	got, err := leafDigests(plan.draft)
	if err != nil {
		return fmt.Errorf("the draft does not decode: %v", err)
	}
	for _, a := range cut {
		rc, _ := a.Open()
		b, _ := io.ReadAll(rc)
		if len(b) > 0 {
			got = append(got, fmt.Sprintf("%x", sha256.Sum256(b)))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("draft + cut parts decode to %d parts %v, the original to %d %v", len(got), got, len(want), want)
	}
	return nil
}

// FuzzPlanDraft: the cutter never panics on any input, keeps the draft
// within the limit, and the draft's parts and the cut parts decode to the
// original's parts.
func FuzzPlanDraft(f *testing.F) {
	for _, tt := range cutCases() {
		f.Add([]byte(tt.raw), uint16(tt.limit))
	}
	f.Add([]byte(crlf(cutHeader+"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: image/png\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n--a--\n")), uint16(200))
	f.Fuzz(func(t *testing.T, raw []byte, limit uint16) {
		plan, err := planDraft(bytes.NewReader(raw), int64(len(raw)), int64(limit))
		if err != nil {
			return
		}
		if n := base64Len(int64(len(plan.draft))); n > int64(limit) {
			t.Fatalf("draft's base64 is %d bytes, over the limit %d", n, limit)
		}
		var cut []Attachment
		for _, p := range plan.cut {
			a, err := partAttachment(bytes.NewReader(raw), p)
			if err != nil {
				return
			}
			cut = append(cut, a)
		}
		if err := checkReassembly(raw, plan, cut); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkPlanDraft measures the cutter on a 20 MB scan: finding the
// parts, building the draft and decoding the cut part once (the size
// pass).
func BenchmarkPlanDraft(b *testing.B) {
	pdf := pseudo(20<<20, 7)
	raw := []byte(crlf(cutHeader+"Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nscan\n--b1\nContent-Type: application/pdf; name=scan.pdf\nContent-Transfer-Encoding: base64\n\n") +
		b64lines(pdf, 76) + crlf("\n--b1--\n"))
	src := bytes.NewReader(raw)
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		plan, err := planDraft(src, int64(len(raw)), MaxRequestBytes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := partAttachment(src, plan.cut[0]); err != nil {
			b.Fatal(err)
		}
	}
}
