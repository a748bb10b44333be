package relay

import (
	"strings"
	"testing"
)

func TestPasswordHashes(t *testing.T) {
	argon, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(argon, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Fatalf("HashPassword = %q", argon)
	}
	tests := []struct {
		name, hash, password string
		want                 bool
	}{
		{"argon2id right", argon, "correct horse", true},
		{"argon2id wrong", argon, "correct horse ", false},
		{"bcrypt right", bcryptOf(t, "correct horse"), "correct horse", true},
		{"bcrypt wrong", bcryptOf(t, "correct horse"), "Correct horse", false},
		// Hashes from the reference implementation's CLI (Debian package
		// argon2): echo -n pw | argon2 saltsalt -id -t 2 -m 10 -p 1 -e
		{"argon2id from the argon2 CLI", "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$bNSenaExtJgdIzXihZKBTbBaAksEV6TLji6KTHjm2lA", "pw", true},
		// echo -n 'correct horse' | argon2 somesaltsalt -id -t 3 -k 8192 -p 2 -e
		{"argon2id from the argon2 CLI, p=2", "$argon2id$v=19$m=8192,t=3,p=2$c29tZXNhbHRzYWx0$TxhzXx/IlID/uWTDWgWuYRFp/Olt2LYHefdpbqv2qrs", "correct horse", true},
		{"argon2id from the argon2 CLI, wrong", "$argon2id$v=19$m=8192,t=3,p=2$c29tZXNhbHRzYWx0$TxhzXx/IlID/uWTDWgWuYRFp/Olt2LYHefdpbqv2qrs", "correct horsE", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHash(tt.hash)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.verify(tt.password); got != tt.want {
				t.Fatalf("verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseHashRejects(t *testing.T) {
	for _, h := range []string{
		"", "hunter2", "$1$md5crypt$xyz",
		"$2b$04$short",
		"$argon2i$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ",
	} {
		if _, err := parseHash(h); err == nil {
			t.Errorf("parseHash(%q) succeeded", h)
		}
	}
}

func TestSenderAllowed(t *testing.T) {
	patterns := []string{"app@example.com", "@corp.example"}
	tests := []struct {
		addr string
		want bool
	}{
		{"app@example.com", true},
		{"APP@Example.COM", true},
		{"other@example.com", false},
		{"anyone@corp.example", true},
		{"x@sub.corp.example", false},
		{"x@corp.example.evil", false},
		{"", false},
		{"no-at-sign", false},
	}
	for _, tt := range tests {
		if got := senderAllowed(tt.addr, patterns); got != tt.want {
			t.Errorf("senderAllowed(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
