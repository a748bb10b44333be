package tokencache

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	s := newSealer([]byte("credential"), "tenant", "client")
	plain := []byte(`{"AccessToken":{}}`)
	file, err := s.seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(file) != headerSize+len(plain)+tagSize {
		t.Errorf("file is %d bytes, want %d", len(file), headerSize+len(plain)+tagSize)
	}
	again, _ := s.seal(plain)
	if bytes.Equal(file[:headerSize], again[:headerSize]) {
		t.Error("two writes share salt and nonce")
	}
	got, err := s.open(file)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, err)
	}

	tests := []struct {
		name   string
		sealer *sealer
		file   []byte
		want   error
	}{
		// Another key is told apart from tampering by the key check.
		{"other credential", newSealer([]byte("credentiaL"), "tenant", "client"), file, errOtherKey},
		{"other tenant", newSealer([]byte("credential"), "tenanT", "client"), file, errOtherKey},
		{"other client", newSealer([]byte("credential"), "tenant", "clienT"), file, errOtherKey},
		// The NUL separator keeps ("ab","c") and ("a","bc") apart.
		{"shifted ids", newSealer([]byte("credential"), "tenantc", "lient"), file, errOtherKey},
		{"tampered ciphertext", s, append(bytes.Clone(file[:len(file)-1]), file[len(file)-1]^1), errDecrypt},
		{"version 1 of another key", s, append([]byte("GMTC\x01"), file[5+checkSize:]...), errOtherKey},
		{"empty", s, nil, errTruncated},
		{"magic only", s, []byte("GM"), errTruncated},
		{"no version", s, []byte("GMTC"), errTruncated},
		{"header only", s, file[:headerSize], errTruncated},
		{"foreign", s, []byte("\x89PNG\r\n"), errForeign},
		{"version 3", s, append([]byte("GMTC\x03"), file[5:]...), errVersion},
		{"appended byte", s, append(bytes.Clone(file), 0), errDecrypt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sealer.open(tc.file)
			if !errors.Is(err, tc.want) {
				t.Errorf("open: err = %v, want %v", err, tc.want)
			}
		})
	}
	for i := range file {
		c := bytes.Clone(file)
		c[i] ^= 0x80
		if _, err := s.open(c); err == nil {
			t.Fatalf("flipping a bit at offset %d went unnoticed", i)
		}
	}
}

func FuzzOpen(f *testing.F) {
	s := newSealer([]byte("credential"), "tenant", "client")
	file, _ := s.seal([]byte(`{}`))
	f.Add(file)
	f.Add([]byte("GMTC\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := s.open(b)
		if err == nil && !bytes.Equal(plain, []byte(`{}`)) {
			t.Fatalf("forged file accepted: %q", plain)
		}
	})
}

func TestOptionsRedacted(t *testing.T) {
	o := Options{Path: "/p", Credential: []byte("hunter2-secret"), TenantID: "t", ClientID: "c"}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("x", "opts", o)
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), buf.String()} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "REDACTED") {
			t.Errorf("not redacted: %s", s)
		}
	}
}
