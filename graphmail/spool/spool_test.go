package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestEnqueueDurableBeforeReturn(t *testing.T) {
	dir := t.TempDir()
	rfs := &recordingFS{root: dir}
	s := mustOpen(t, dir, Options{fs: rfs})
	rfs.take()
	id := mustEnqueue(t, s, "Subject: hi\r\n\r\nbody\r\n")
	got := rfs.take()
	want := []string{
		"write+fsync tmp/" + string(id) + ".msg",
		"rename queue/" + string(id) + ".msg",
		"fsyncdir queue",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("durability steps before Enqueue returned:\ngot  %q\nwant %q", got, want)
	}
	// The file is complete and in place the moment Enqueue returns.
	if _, err := os.Stat(filepath.Join(dir, "queue", string(id)+".msg")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp", string(id)+".msg")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestEnqueueFailureIsNotAcknowledged(t *testing.T) {
	dir := t.TempDir()
	rfs := &recordingFS{root: dir, failRename: "queue"}
	s := mustOpen(t, dir, Options{fs: rfs})
	_, err := s.Enqueue(context.Background(), Envelope{From: "a@example.com", To: []string{"b@example.com"}}, []byte("x"), Meta{})
	var se *Error
	if !errors.As(err, &se) || se.Op != "enqueue" {
		t.Fatalf("Enqueue with a failing rename = %v, want *Error{Op: enqueue}", err)
	}
	items, _ := s.List()
	if len(items) != 0 {
		t.Fatalf("a failed Enqueue left %d items", len(items))
	}
}

func TestEnqueueRefuses(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		env  Envelope
	}{
		{"no recipients", context.Background(), Envelope{From: "a@example.com"}},
		{"canceled", canceled, Envelope{To: []string{"b@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Enqueue(tt.ctx, tt.env, []byte("x"), Meta{}); err == nil {
				t.Fatal("Enqueue succeeded")
			}
		})
	}
}

func TestEnqueueKeepsBytesEnvelopeAndMeta(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{Hostname: "relay.example"})
	raw := "Reply-To: =?UTF-8?Q?J=C3=B6rg?= <j@example.com>\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe =\r\nmore\r\n"
	env := Envelope{From: "app@example.com", To: []string{"to@example.com", "hidden-bcc@example.com"}}
	id, err := s.Enqueue(context.Background(), env, []byte(raw), Meta{Client: "192.0.2.1 user=app"})
	if err != nil {
		t.Fatal(err)
	}
	it, got, err := s.Show(id)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != raw {
		t.Errorf("bytes changed:\ngot  %q\nwant %q", got, raw)
	}
	if !slices.Equal(it.Envelope.To, env.To) || it.Envelope.From != env.From {
		t.Errorf("envelope = %+v, want %+v", it.Envelope, env)
	}
	if it.State != StateQueued || it.Meta.Client != "192.0.2.1 user=app" || it.Meta.Received.IsZero() {
		t.Errorf("item = %+v", it)
	}
	// A message without a Message-ID gets one in graphmail's single format.
	if !regexp.MustCompile(`^[0-9a-f]{24}\.[0-9]+@relay\.example$`).MatchString(it.Meta.MessageID) || it.MessageID() != it.Meta.MessageID {
		t.Errorf("MessageID = %q (Item.MessageID %q), want <hex>.<unixnano>@relay.example", it.Meta.MessageID, it.MessageID())
	}
}

// TestEnqueueReadsHeader checks that the Message-ID the spool records, and
// the From, Subject and header size it reports, are those of the header
// that is sent, however it is folded.
func TestEnqueueReadsHeader(t *testing.T) {
	tests := []struct {
		name, raw string
		want      HeaderInfo
	}{
		{"plain", "Message-ID: <abc@example.com>\r\nFrom: App <app@example.com>\r\nSubject: x\r\n\r\nbody",
			HeaderInfo{MessageID: "abc@example.com", From: "App <app@example.com>", Subject: "x", Size: 72}},
		{"lower case, LF", "Subject: x\nmessage-id:   <lower@example.com>  \n\nbody",
			HeaderInfo{MessageID: "lower@example.com", Subject: "x", Size: 47}},
		{"folded Message-ID", "Subject: x\r\nMessage-ID:\r\n <folded@example.com>\r\n\r\nbody",
			HeaderInfo{MessageID: "folded@example.com", Subject: "x", Size: 48}},
		{"folded and encoded Subject", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n =?utf-8?q?_aus_K=C3=B6ln?=\r\nMessage-ID: <s@example.com>\r\n\r\n",
			HeaderInfo{MessageID: "s@example.com", Subject: "Grüße aus Köln", Size: 96}},
		{"control characters are not printed", "Subject: =?utf-8?q?a=0D=0A=1B[2Jb?=\r\nMessage-ID: <c@example.com>\r\n\r\n",
			HeaderInfo{MessageID: "c@example.com", Subject: "a   [2Jb", Size: 66}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpen(t, t.TempDir(), Options{Hostname: "relay.example"})
			id := mustEnqueue(t, s, tt.raw)
			it, _, err := s.Show(id)
			if err != nil {
				t.Fatal(err)
			}
			if it.Header != tt.want {
				t.Errorf("Header\ngot  %+v\nwant %+v", it.Header, tt.want)
			}
			if it.Meta.MessageID != tt.want.MessageID || it.MessageID() != tt.want.MessageID {
				t.Errorf("Meta.MessageID %q, MessageID() %q, want %q", it.Meta.MessageID, it.MessageID(), tt.want.MessageID)
			}
			items, err := s.List()
			if err != nil || len(items) != 1 || items[0].Header != tt.want {
				t.Errorf("List() = %+v, %v", items, err)
			}
		})
	}
}

func TestDecodeMessageCorrupt(t *testing.T) {
	good, err := encodeMessage(Envelope{To: []string{"a@b"}}, Meta{}, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"empty":     nil,
		"bad magic": []byte("something else\n{}\nx"),
		"truncated": good[:len(good)-2],
		"bad json":  []byte(magic + "{nope\nx"),
	}
	for name, data := range tests {
		if _, _, err := decodeMessage(data); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want errCorrupt", name, err)
		}
	}
	if _, raw, err := decodeMessage(good); err != nil || string(raw) != "hello" {
		t.Errorf("good: %q, %v", raw, err)
	}
}

func TestConcurrentEnqueue(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	const goroutines, each = 20, 10
	var wg sync.WaitGroup
	ids := make(chan ID, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				raw := fmt.Sprintf("Subject: %d-%d\r\n\r\nbody\r\n", g, i)
				id, err := s.Enqueue(context.Background(), Envelope{To: []string{"x@example.com"}}, []byte(raw), Meta{})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[ID]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("duplicate ID %s", id)
		}
		seen[id] = true
	}
	items, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != goroutines*each || len(seen) != goroutines*each {
		t.Fatalf("listed %d, acknowledged %d, want %d", len(items), len(seen), goroutines*each)
	}
	subjects := map[string]bool{}
	for _, it := range items {
		_, raw, err := s.Show(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		subjects[strings.SplitN(string(raw), "\r\n", 2)[0]] = true
	}
	if len(subjects) != goroutines*each {
		t.Fatalf("%d distinct messages on disk, want %d", len(subjects), goroutines*each)
	}
}

func TestShowValidatesID(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	for _, id := range []ID{"", "../../etc/passwd", "0123456789abcdef0123456Z"} {
		if _, _, err := s.Show(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show(%q) = %v, want ErrNotFound", id, err)
		}
	}
}
