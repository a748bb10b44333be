package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileErrorStandsAlone: a file that cannot be used is the only error,
// not followed by "tenant_id: not set" and the like (which would follow
// from it) nor by other findings.
func TestFileErrorStandsAlone(t *testing.T) {
	dir := t.TempDir()
	unreadable := writeFile(t, dir, "unreadable.yaml", "sender: a@contoso.com\n")
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		root    bool // skip as root, who may read anything
		problem string
		hint    string
		is      error
	}{
		{name: "parse error", path: writeFile(t, dir, "bad.yaml", "tenant_id: [x\n"), problem: "cannot parse", hint: "fix the syntax"},
		{name: "toml parse error", path: writeFile(t, dir, "bad.toml", "a = = 1\n"), problem: "cannot parse", hint: "fix the syntax"},
		{name: "json parse error", path: writeFile(t, dir, "bad.json", "{"), problem: "cannot parse", hint: "fix the syntax"},
		{name: "unsupported extension", path: writeFile(t, dir, "c.ini", "x=1\n"), problem: "unsupported file type .ini", hint: ".toml"},
		{name: "missing", path: filepath.Join(dir, "nope.yaml"), problem: "no such file or directory", hint: "--config", is: fs.ErrNotExist},
		{name: "a directory", path: dir, problem: "is a directory", hint: "permissions"},
		{name: "permission denied", path: unreadable, root: true, problem: "permission denied", hint: "permissions", is: fs.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			_, err := load(Options{ConfigFile: tt.path, RequireCredentials: true,
				Overrides: map[string]any{"smtp.hots": "x", "client_id": "bad"}}, fakeEnv{"GRAPHMAIL_BOGUS": "1"})
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, want exactly one error", err)
			}
			e := errs[0]
			if e.Key != "config" || !strings.Contains(e.Problem, tt.problem) || !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("got %q: %q — %q, want config: ~%q — ~%q", e.Key, e.Problem, e.Hint, tt.problem, tt.hint)
			}
			if e.Source != "file "+tt.path {
				t.Errorf("Source = %q, want file %s", e.Source, tt.path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
		})
	}
}

func TestSearchExtensions(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // in the search directory
		want    string            // the file read, relative to the directory
		problem string            // the only error, on key config
	}{
		{name: "yaml", files: map[string]string{"config.yaml": "sender: y@contoso.com\n"}, want: "config.yaml"},
		{name: "yml", files: map[string]string{"config.yml": "sender: y@contoso.com\n"}, want: "config.yml"},
		{name: "toml", files: map[string]string{"config.toml": "sender = \"t@contoso.com\"\n"}, want: "config.toml"},
		{name: "json", files: map[string]string{"config.json": `{"sender": "j@contoso.com"}`}, want: "config.json"},
		{name: "the first place wins", files: map[string]string{"config.json": `{}`, "later/config.yaml": ""}, want: "config.json"},
		{name: "two in one place", files: map[string]string{"config.yaml": "", "config.toml": ""}, problem: "found both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, dir, name, content)
			}
			search := withExts(filepath.Join(dir, "config"), filepath.Join(dir, "later", "config"))
			c, err := load(Options{SearchPaths: search}, nil)
			if tt.problem != "" {
				errs, _ := err.(Errors)
				if len(errs) != 1 || errs[0].Key != "config" || !strings.Contains(errs[0].Problem, tt.problem) ||
					!strings.Contains(errs[0].Problem, filepath.Join(dir, "config.yaml")) || !strings.Contains(errs[0].Problem, filepath.Join(dir, "config.toml")) {
					t.Fatalf("got %v, want only config: %s both files", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, tt.want); c.File != want {
				t.Errorf("File = %q, want %q", c.File, want)
			}
		})
	}
}

func TestNoFileFoundSaysWhere(t *testing.T) {
	dir := t.TempDir()
	search := withExts(filepath.Join(dir, "a", "config"), filepath.Join(dir, "b", "config"))
	looked := "looked for " + filepath.Join(dir, "a", "config") + ".{yaml,yml,toml,json}, " + filepath.Join(dir, "b", "config") + ".{yaml,yml,toml,json}"
	full := fakeEnv{"GRAPHMAIL_TENANT_ID": testTenant, "GRAPHMAIL_CLIENT_ID": testClient, "GRAPHMAIL_CLIENT_SECRET": testSecret, "GRAPHMAIL_SENDER": testSender}
	tests := []struct {
		name     string
		search   []string
		env      fakeEnv
		require  bool
		wantKeys string // the keys of the errors, in order
	}{
		{name: "nothing found, keys missing", search: search, require: true,
			wantKeys: "config,tenant_id,client_id,client_secret,sender"},
		{name: "only the credential missing", search: search, require: true,
			env: fakeEnv{"GRAPHMAIL_TENANT_ID": testTenant, "GRAPHMAIL_CLIENT_ID": testClient, "GRAPHMAIL_SENDER": testSender}, wantKeys: "config,client_secret"},
		{name: "everything in the environment", search: search, require: true, env: full},
		{name: "credentials not required", search: search},
		{name: "a problem other than a missing key", search: search, require: true,
			env: fakeEnv{"GRAPHMAIL_TENANT_ID": testTenant, "GRAPHMAIL_CLIENT_ID": "x", "GRAPHMAIL_CLIENT_SECRET": testSecret, "GRAPHMAIL_SENDER": testSender}, wantKeys: "client_id"},
		{name: "nowhere to look", search: []string{}, require: true, wantKeys: "tenant_id,client_id,client_secret,sender"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(Options{SearchPaths: tt.search, RequireCredentials: tt.require}, tt.env)
			var keys []string
			var errs Errors
			errors.As(err, &errs)
			for _, e := range errs {
				keys = append(keys, e.Key)
			}
			if got := strings.Join(keys, ","); got != tt.wantKeys {
				t.Fatalf("keys %q, want %q:\n%v", got, tt.wantKeys, err)
			}
			if len(errs) > 0 && errs[0].Key == "config" {
				if e := errs[0]; !strings.Contains(e.Problem, "no configuration file found") || !strings.Contains(e.Problem, looked) || !strings.Contains(e.Hint, EnvConfig) {
					t.Errorf("got %q — %q, want where it looked (%s)", e.Problem, e.Hint, looked)
				}
			}
		})
	}
}

func TestDescribePaths(t *testing.T) {
	tests := []struct {
		paths []string
		want  string
	}{
		{DefaultSearchPaths(fakeEnv{"HOME": "/home/u"}.lookup),
			"./graphmail.{yaml,yml,toml,json}, /home/u/.config/graphmail/config.{yaml,yml,toml,json}, /etc/graphmail/config.{yaml,yml,toml,json}"},
		{[]string{"/a/x.yaml", "/b/x.yaml", "rel/c", "../up.toml"}, "/a/x.yaml, /b/x.yaml, ./rel/c, ../up.toml"},
		{[]string{"/a/c.yaml", "/a/c.json"}, "/a/c.{yaml,json}"},
	}
	for _, tt := range tests {
		if got := describePaths(tt.paths); got != tt.want {
			t.Errorf("describePaths(%q):\ngot  %s\nwant %s", tt.paths, got, tt.want)
		}
	}
}
