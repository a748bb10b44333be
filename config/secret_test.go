package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretFormats(t *testing.T) {
	s := Secret(testSecret)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"String", s.String(), "[redacted]"},
		{"GoString", s.GoString(), "[redacted]"},
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%+v", fmt.Sprintf("%+v", s), "[redacted]"},
		{"%#v", fmt.Sprintf("%#v", s), "[redacted]"},
		{"%s", fmt.Sprintf("%s", s), "[redacted]"},
		{"%q", fmt.Sprintf("%q", s), `"[redacted]"`},
		{"%x", fmt.Sprintf("%x", s), "[redacted]"},
		{"%X", fmt.Sprintf("%X", s), "[redacted]"},
		{"%d", fmt.Sprintf("%d", s), "[redacted]"},
		{"%12s", fmt.Sprintf("%12s", s), "  [redacted]"},
		{"%-12s|", fmt.Sprintf("%-12s|", s), "[redacted]  |"},
		{"pointer %v", fmt.Sprintf("%v", &s), "[redacted]"},
		{"Sprint", fmt.Sprint(s), "[redacted]"},
		{"in a slice", fmt.Sprintf("%v", []Secret{s}), "[[redacted]]"},
		{"Reveal", s.Reveal(), testSecret},
		{"empty String", Secret("").String(), ""},
		{"empty %v", fmt.Sprintf("%v", Secret("")), ""},
		{"empty %q", fmt.Sprintf("%q", Secret("")), `""`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	for name, f := range map[string]func(Secret) ([]byte, error){
		"MarshalJSON": Secret.MarshalJSON, "MarshalText": Secret.MarshalText,
	} {
		b, err := f(s)
		if err != nil || strings.Contains(string(b), testSecret) || !strings.Contains(string(b), "[redacted]") {
			t.Errorf("%s: got %q, %v", name, b, err)
		}
	}
	if got := s.LogValue().String(); got != "[redacted]" {
		t.Errorf("LogValue: got %q, want [redacted]", got)
	}
}

// loadedWithSecrets returns a Config holding both kinds of secret.
func loadedWithSecrets(t *testing.T) *Config {
	t.Helper()
	over := baseOverrides()
	over["client_certificate_password"] = "pfx-" + testSecret
	c, err := load(Options{Overrides: over}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientSecret.Reveal() != testSecret || c.ClientCertificatePassword.Reveal() != "pfx-"+testSecret {
		t.Fatal("secrets did not load")
	}
	return c
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := loadedWithSecrets(t)
	jsonBytes, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var v any = *c // as any, so vet accepts verbs a struct would not take
	outputs := map[string]string{
		"%v":           fmt.Sprintf("%v", v),
		"%+v":          fmt.Sprintf("%+v", v),
		"%#v":          fmt.Sprintf("%#v", v),
		"%s":           fmt.Sprintf("%s", v),
		"%q":           fmt.Sprintf("%q", v),
		"%x":           fmt.Sprintf("%x", v),
		"pointer %+v":  fmt.Sprintf("%+v", c),
		"pointer %#v":  fmt.Sprintf("%#v", c),
		"json.Marshal": string(jsonBytes),
	}
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"slog text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"slog JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	} {
		var buf bytes.Buffer
		log := slog.New(h.new(&buf))
		log.Info("loaded", "config", *c, "ptr", c, "secret", c.ClientSecret, "password", c.ClientCertificatePassword)
		log.Info("group", slog.Group("g", slog.Any("secret", c.ClientSecret)), slog.Any("smtp", c.SMTP))
		outputs[h.name] = buf.String()
	}
	for name, out := range outputs {
		if strings.Contains(out, testSecret) {
			t.Errorf("%s shows the secret:\n%s", name, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s: no [redacted] placeholder:\n%s", name, out)
		}
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		over map[string]any
		env  fakeEnv
		file string
	}{
		{name: "secret of the wrong type", file: "client_secret:\n  - " + testSecret + "\n"},
		{name: "secret pasted into client_id", over: map[string]any{"client_id": testSecret}},
		{name: "secret pasted into tenant_id", env: fakeEnv{"GRAPHMAIL_TENANT_ID": testSecret}},
		{name: "secret pasted into sender", env: fakeEnv{"AZURE_CLIENT_ID": testSecret}},
		{name: "secret pasted into authority_host", over: map[string]any{"authority_host": testSecret}},
		{name: "secret pasted into cloud", over: map[string]any{"cloud": testSecret}},
		{name: "secret pasted into smtp.port", env: fakeEnv{"GRAPHMAIL_SMTP_PORT": testSecret}},
		{name: "secret under an unknown key", file: "client_secert: " + testSecret + "\n"},
		{name: "secret in an unknown env var", env: fakeEnv{"GRAPHMAIL_SECRET": testSecret}},
		{name: "secret in a file that does not parse", file: "client_secret: " + testSecret + "\n  bad: [\n"},
		{name: "secret and certificate both set", over: map[string]any{"client_secret": testSecret, "client_certificate": "/nonexistent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Overrides: tt.over, RequireCredentials: true}
			if tt.file != "" {
				opts.ConfigFile = writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".yaml", tt.file)
			}
			_, err := load(opts, tt.env)
			if err == nil {
				t.Fatal("got no error, want one")
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Error("config", "err", err)
			for name, out := range map[string]string{
				"Error()": err.Error(), "%+v": fmt.Sprintf("%+v", err), "%#v": fmt.Sprintf("%#v", err), "slog": buf.String(),
			} {
				if strings.Contains(out, testSecret) {
					t.Errorf("%s shows the secret:\n%s", name, out)
				}
			}
		})
	}
}
