package config

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestCredentialFileLists: client_secret_file and client_certificate take
// one file or a list of two (a rotation), each relative to the config
// file; the first one fills the single-file fields.
func TestCredentialFileLists(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "etc/old.txt", testSecret+"\n")
	writeFile(t, dir, "etc/new.txt", "new-"+testSecret+"\n")
	tests := []struct {
		name, file string
		env        fakeEnv
		want       []string
	}{
		{name: "one file", file: "client_secret_file: old.txt\n", want: []string{"etc/old.txt"}},
		{name: "a YAML list", file: "client_secret_file: [old.txt, new.txt]\n", want: []string{"etc/old.txt", "etc/new.txt"}},
		{name: "a block list", file: "client_secret_file:\n  - new.txt\n  - old.txt\n", want: []string{"etc/new.txt", "etc/old.txt"}},
		{name: "comma-separated in the environment", file: "sender: x@contoso.com\n",
			env:  fakeEnv{"GRAPHMAIL_CLIENT_SECRET_FILE": filepath.Join(dir, "etc/old.txt") + "," + filepath.Join(dir, "etc/new.txt")},
			want: []string{"etc/old.txt", "etc/new.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeFile(t, dir, "etc/config.yaml", tt.file)
			c, err := load(Options{ConfigFile: cfg}, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, filepath.Join(dir, w))
			}
			if !slices.Equal(c.ClientSecretFiles, want) {
				t.Errorf("ClientSecretFiles: got %q, want %q", c.ClientSecretFiles, want)
			}
			if c.ClientSecretFile != want[0] {
				t.Errorf("ClientSecretFile: got %q, want %q (the first)", c.ClientSecretFile, want[0])
			}
			if c.Auth.Method != MethodSecret {
				t.Errorf("auth.method: got %q, want secret", c.Auth.Method)
			}
		})
	}
}

// TestCredentialFileListProblems: more than two files, or a second file
// that is missing, are reported on the key.
func TestCredentialFileListProblems(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.txt", testSecret)
	base := "tenant_id: " + testTenant + "\nclient_id: " + testClient + "\nsender: " + testSender + "\n"
	tests := []struct {
		name, file, key string
	}{
		{name: "three files", file: "client_secret_file: [a.txt, a.txt, a.txt]\n", key: "client_secret_file"},
		{name: "second secret missing", file: "client_secret_file: [a.txt, missing.txt]\n", key: "client_secret_file"},
		{name: "second certificate missing", file: "client_certificate: [a.txt, missing.pem]\n", key: "client_certificate"},
		{name: "a bad date", file: "client_secret_file: a.txt\nclient_secret_expires: next week\n", key: "client_secret_expires"},
		{name: "negative warn days", file: "client_secret_file: a.txt\ncredential_warn_days: -1\n", key: "credential_warn_days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeFile(t, dir, "config.yaml", base+tt.file)
			_, err := load(Options{ConfigFile: cfg, RequireCredentials: true}, nil)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want config.Errors", err)
			}
			if !slices.ContainsFunc(errs, func(e *Error) bool { return e.Key == tt.key }) {
				t.Errorf("got %v, want a problem with %s", err, tt.key)
			}
		})
	}
}

// TestCredentialExpiryKeys: client_secret_expires takes a date (the end of
// that day, UTC) or an RFC 3339 time; credential_warn_days defaults to 30.
func TestCredentialExpiryKeys(t *testing.T) {
	tests := []struct {
		name, value string
		want        time.Time
	}{
		{name: "unset", value: "", want: time.Time{}},
		{name: "a date", value: "2026-03-31", want: time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)},
		{name: "an RFC 3339 time", value: "2026-03-31T08:00:00Z", want: time.Date(2026, 3, 31, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fakeEnv{}
			if tt.value != "" {
				env["GRAPHMAIL_CLIENT_SECRET_EXPIRES"] = tt.value
			}
			c, err := load(Options{}, env)
			if err != nil {
				t.Fatal(err)
			}
			if !c.ClientSecretExpires.Equal(tt.want) {
				t.Errorf("ClientSecretExpires: got %v, want %v", c.ClientSecretExpires, tt.want)
			}
			if c.CredentialWarnDays != 30 {
				t.Errorf("CredentialWarnDays: got %d, want 30", c.CredentialWarnDays)
			}
		})
	}
}
