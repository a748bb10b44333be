package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzParseRegistration: any answer from Graph to the application request
// is either parsed or refused with a *RegistrationError, without a panic.
func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"passwordCredentials":[{"hint":"abc","endDateTime":"2026-03-31T00:00:00Z","keyId":"k","displayName":"d"}],"keyCredentials":[{"customKeyIdentifier":"AAECAwQFBgcICQoLDA0ODxAREhM=","endDateTime":"2027-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"passwordCredentials":[{"hint":null,"endDateTime":null}]}`))
	f.Add([]byte(`{"keyCredentials":[{"customKeyIdentifier":"NDE0MjQzNDQ0NTQ2NDE0MjQzNDQ0NTQ2NDE0MjQzNDQ0NTQ2NDE0MjQzNDQ="}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, err := parseRegistration(body)
		if err != nil {
			var re *RegistrationError
			if !errors.As(err, &re) {
				t.Fatalf("error %T, want *RegistrationError", err)
			}
			return
		}
		for _, c := range reg.Secrets {
			_ = c.String()
		}
		for _, c := range reg.Certificates {
			_ = c.String()
		}
	})
}

// TestRegisteredSecretHidesHint: printing a registered secret never shows
// the first characters of the secret that Graph calls its hint.
func TestRegisteredSecretHidesHint(t *testing.T) {
	reg, err := parseRegistration([]byte(`{"passwordCredentials":[{"hint":"Zq8","keyId":"k1","displayName":"rotation","endDateTime":"2026-03-31T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := reg.Secrets[0]
	if shown := fmt.Sprintf("%v %+v %#v %s", c, c, c, reg); strings.Contains(shown, "Zq8") {
		t.Errorf("the registration prints the hint: %s", shown)
	}
}

// TestThumbprintBytes: a customKeyIdentifier is base64 of the SHA-1
// thumbprint, or of the thumbprint in hex.
func TestThumbprintBytes(t *testing.T) {
	raw := []byte{0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x41, 0x42}
	tests := []struct {
		name, in string
		want     []byte
	}{
		{name: "raw thumbprint", in: "QUJDREVGQUJDREVGQUJDREVGQUI=", want: raw},
		{name: "hex thumbprint", in: "NDE0MjQzNDQ0NTQ2NDE0MjQzNDQ0NTQ2NDE0MjQzNDQ0NTQ2NDE0Mg==", want: raw},
		{name: "not base64", in: "%%%", want: nil},
	}
	for _, tt := range tests {
		if got := thumbprintBytes(tt.in); string(got) != string(tt.want) {
			t.Errorf("%s: got %x, want %x", tt.name, got, tt.want)
		}
	}
}
