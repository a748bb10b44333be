package config

import (
	"strings"
	"testing"
)

func TestSettingsRedactAndSource(t *testing.T) {
	c, err := load(Options{Overrides: map[string]any{"smtp.port": 2525}}, fakeEnv{
		"GRAPHMAIL_TENANT_ID":     testTenant,
		"GRAPHMAIL_CLIENT_ID":     testClient,
		"GRAPHMAIL_CLIENT_SECRET": testSecret,
		"GRAPHMAIL_SENDER":        testSender,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Setting{}
	for _, s := range c.Settings() {
		got[s.Key] = s
		if strings.Contains(s.Value, testSecret) {
			t.Errorf("%s shows the secret", s.Key)
		}
	}
	tests := []struct{ key, value, source string }{
		{"client_secret", "[redacted]", SourceEnv},
		{"tenant_id", testTenant, SourceEnv},
		{"smtp.port", "2525", SourceFlag},
		{"smtp.host", "smtp.office365.com", SourceDefault},
		{"retry.max_elapsed", "2m0s", SourceDefault},
	}
	for _, tt := range tests {
		if s := got[tt.key]; s.Value != tt.value || s.Source != tt.source {
			t.Errorf("%s = %q from %q, want %q from %q", tt.key, s.Value, s.Source, tt.value, tt.source)
		}
	}
}
