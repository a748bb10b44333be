package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExposedSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cr3t-value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	natsCreds := filepath.Join(dir, "relay.creds")
	if err := os.WriteFile(natsCreds, []byte("-----BEGIN USER NKEY SEED-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml string
		mode       os.FileMode
		wantKeys   []string
	}{
		{"secret in a world-readable config", "tenant_id: contoso.onmicrosoft.com\nclient_id: 00000000-0000-0000-0000-000000000001\nclient_secret: hunter2\nsender: a@b.c\n", 0o644, []string{"config"}},
		{"secret in a private config", "tenant_id: contoso.onmicrosoft.com\nclient_id: 00000000-0000-0000-0000-000000000001\nclient_secret: hunter2\nsender: a@b.c\n", 0o600, nil},
		{"secret in a group-readable config", "tenant_id: contoso.onmicrosoft.com\nclient_id: 00000000-0000-0000-0000-000000000001\nclient_secret: hunter2\nsender: a@b.c\n", 0o640, nil},
		{"world-readable config without a secret", "tenant_id: contoso.onmicrosoft.com\nclient_id: 00000000-0000-0000-0000-000000000001\nclient_secret_file: " + secret + "\nsender: a@b.c\n", 0o644, []string{"client_secret_file"}},
		{"world-readable NATS credentials", "tenant_id: contoso.onmicrosoft.com\nclient_id: 00000000-0000-0000-0000-000000000001\nclient_secret_file: " + secret + "\nsender: a@b.c\nnats: {creds_file: " + natsCreds + "}\n", 0o600, []string{"client_secret_file", "nats.creds_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "g.yaml", tt.yaml)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			c, err := load(Options{ConfigFile: path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := c.ExposedSecrets()
			var keys []string
			for _, e := range got {
				keys = append(keys, e.Key)
				if strings.Contains(e.String(), "hunter2") || strings.Contains(e.String(), "s3cr3t") {
					t.Errorf("the warning shows the secret: %s", e)
				}
				if !strings.Contains(e.String(), "chmod 600") {
					t.Errorf("no fix in %q", e)
				}
			}
			if strings.Join(keys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("exposed %v, want %v", keys, tt.wantKeys)
			}
		})
	}
}
