package graphmail

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateGraph = flag.Bool("update-graph", false, "rewrite testdata/graph golden files")

// graphShapes are the message shapes whose Graph request body is pinned by a
// golden file in testdata/graph.
func graphShapes() map[string]*Message {
	return map[string]*Message{
		"text": {
			To:      []Address{{Address: "a@example.com"}},
			Subject: "hello",
			Text:    "it works\n",
		},
		"html": {
			To:      []Address{{Name: "Ann Example", Address: "a@example.com"}},
			Subject: "weekly",
			HTML:    "<p>report</p>",
		},
		"recipients": {
			From:    Address{Name: "Reports", Address: "reports@contoso.com"},
			To:      []Address{{Address: "a@example.com"}, {Address: "b@example.com"}},
			Cc:      []Address{{Address: "c@example.com"}},
			Bcc:     []Address{{Address: "hidden@example.com"}},
			ReplyTo: []Address{{Address: "replies@contoso.com"}},
			Subject: "Grüße – 報告",
			Text:    "body",
		},
		"importance-headers": {
			To:         []Address{{Address: "a@example.com"}},
			Subject:    "urgent",
			Text:       "now",
			Importance: ImportanceHigh,
			Headers:    []Header{{Name: "X-Job", Value: "nightly-42"}},
		},
		"attachments": {
			To:      []Address{{Address: "a@example.com"}},
			Subject: "files",
			HTML:    `<p>see <img src="cid:logo"></p>`,
			Attachments: []Attachment{
				{Name: "report.csv", ContentType: "text/csv", Content: []byte("a,b\n1,2\n")},
				{Name: "logo.png", ContentType: "image/png", Content: []byte{0x89, 'P', 'N', 'G'}, ContentID: "logo", Inline: true},
				{Name: "blob.bin", Content: []byte{0, 1, 2}},
			},
		},
	}
}

func TestGraphRequestGolden(t *testing.T) {
	c, err := New(Config{Sender: "sender@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range graphShapes() {
		t.Run(name, func(t *testing.T) {
			m.MessageID = "fixed-" + name + "@contoso.com"
			body, ctype, err := c.GraphRequest(m)
			if err != nil {
				t.Fatal(err)
			}
			if ctype != "application/json" {
				t.Fatalf("content type = %q, want application/json", ctype)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "graph", name+".json")
			if *updateGraph {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./graphmail -run TestGraphRequestGolden -update-graph)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("request body differs from %s\ngot:\n%s\nwant:\n%s", path, pretty.Bytes(), want)
			}
		})
	}
}

// TestGraphRequestBothBodies checks that a message with a text and an HTML
// body loses neither: it goes as multipart/alternative MIME.
func TestGraphRequestBothBodies(t *testing.T) {
	c, err := New(Config{Sender: "sender@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{To: []Address{{Address: "a@example.com"}}, Subject: "both", Text: "plain words", HTML: "<b>bold words</b>", Bcc: []Address{{Address: "b@example.com"}}}
	body, ctype, err := c.GraphRequest(m)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "text/plain" {
		t.Fatalf("content type = %q, want text/plain (MIME sendMail)", ctype)
	}
	raw, err := decodeBase64(body)
	if err != nil {
		t.Fatalf("body is not base64: %v", err)
	}
	for _, want := range []string{"multipart/alternative", "plain words", "bold words", "Bcc: <b@example.com>", "Message-ID: <" + m.MessageID + ">"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("MIME lacks %q:\n%s", want, raw)
		}
	}
}

func TestGraphRequestRejectsBadInput(t *testing.T) {
	c, err := New(Config{Sender: "sender@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		m     Message
		field string
	}{
		{"no recipients", Message{Subject: "x", Text: "y"}, "To"},
		{"bad address", Message{To: []Address{{Address: "not an address"}}, Text: "y"}, "To[0]"},
		{"header injection", Message{To: []Address{{Address: "a@example.com"}}, Subject: "a\r\nBcc: evil@example.com", Text: "y"}, "Subject"},
		{"non-X header", Message{To: []Address{{Address: "a@example.com"}}, Text: "y", Headers: []Header{{Name: "Precedence", Value: "bulk"}}}, "Headers[0]"},
		{"bad importance", Message{To: []Address{{Address: "a@example.com"}}, Text: "y", Importance: "urgent"}, "Importance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := c.GraphRequest(&tt.m)
			var me *MessageError
			if !asMessageError(err, &me) {
				t.Fatalf("err = %v, want *MessageError", err)
			}
			if len(me.Field) < len(tt.field) || me.Field[:len(tt.field)] != tt.field {
				t.Errorf("field = %q, want prefix %q", me.Field, tt.field)
			}
		})
	}
}
