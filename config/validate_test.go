package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// baseOverrides is a complete, valid configuration.
func baseOverrides() map[string]any {
	return map[string]any{
		"tenant_id":     testTenant,
		"client_id":     testClient,
		"client_secret": testSecret,
		"sender":        testSender,
	}
}

func TestValidationErrors(t *testing.T) {
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret.txt", testSecret+"\n")
	emptyFile := writeFile(t, dir, "empty.txt", "\n")
	notPEM := writeFile(t, dir, "ca.pem", "this is not a certificate\n")
	certFile := writeFile(t, dir, "cert.pem", testCAPEM(t))
	missing := filepath.Join(dir, "missing")

	const unset = "\x00unset" // removes a key from baseOverrides
	tests := []struct {
		name     string
		set      map[string]any // merged into baseOverrides
		file     string         // YAML config file content
		fileName string         // default config.yaml
		env      fakeEnv
		require  bool
		key      string // want exactly one error, on this key
		problem  string // substring of Problem
		hint     string // substring of Hint
	}{
		{name: "client_id not a GUID", set: map[string]any{"client_id": "my-app"},
			key: "client_id", problem: "not a GUID", hint: "Application (client) ID"},
		{name: "tenant common", set: map[string]any{"tenant_id": "common"},
			key: "tenant_id", problem: "common is not a specific tenant", hint: "Directory (tenant) ID"},
		{name: "tenant organizations", set: map[string]any{"tenant_id": "Organizations"},
			key: "tenant_id", problem: "organizations is not a specific tenant", hint: "Directory (tenant) ID"},
		{name: "tenant consumers", set: map[string]any{"tenant_id": "consumers"},
			key: "tenant_id", problem: "consumers is not a specific tenant", hint: "Directory (tenant) ID"},
		{name: "tenant garbage", set: map[string]any{"tenant_id": "contoso"},
			key: "tenant_id", problem: "not a GUID or a domain name", hint: "contoso.onmicrosoft.com"},
		{name: "missing tenant_id", set: map[string]any{"tenant_id": unset}, require: true,
			key: "tenant_id", problem: "not set", hint: "GRAPHMAIL_TENANT_ID"},
		{name: "missing client_id", set: map[string]any{"client_id": unset}, require: true,
			key: "client_id", problem: "not set", hint: "Application (client) ID"},
		{name: "missing sender", set: map[string]any{"sender": unset}, require: true,
			key: "sender", problem: "not set", hint: "GRAPHMAIL_SENDER"},
		{name: "no credential", set: map[string]any{"client_secret": unset}, require: true,
			key: "client_secret", problem: "no client credential", hint: "client_certificate"},
		{name: "secret and certificate", set: map[string]any{"client_certificate": certFile}, require: true,
			key: "client_secret", problem: "both a client secret (client_secret, from flag) and a certificate", hint: "keep one"},
		{name: "secret file and certificate", set: map[string]any{"client_secret": unset, "client_secret_file": secretFile},
			env: fakeEnv{"GRAPHMAIL_CLIENT_CERTIFICATE": certFile}, require: true,
			key: "client_secret", problem: "client_secret_file, from flag) and a certificate (client_certificate, from env)", hint: "keep one"},
		{name: "secret and secret file", set: map[string]any{"client_secret_file": secretFile}, require: true,
			key: "client_secret_file", problem: "set together with client_secret", hint: "keep one"},
		{name: "secret file missing", set: map[string]any{"client_secret": unset, "client_secret_file": missing}, require: true,
			key: "client_secret_file", problem: "no such file or directory", hint: "check the path"},
		{name: "secret file empty", set: map[string]any{"client_secret": unset, "client_secret_file": emptyFile}, require: true,
			key: "client_secret_file", problem: "empty", hint: "not its ID"},
		{name: "certificate missing", set: map[string]any{"client_secret": unset, "client_certificate": missing}, require: true,
			key: "client_certificate", problem: "no such file or directory", hint: ".pfx"},
		{name: "certificate is a directory", set: map[string]any{"client_secret": unset, "client_certificate": dir}, require: true,
			key: "client_certificate", problem: "is a directory", hint: "certificate file"},
		{name: "ca_file missing", set: map[string]any{"ca_file": missing}, require: true,
			key: "ca_file", problem: "no such file or directory", hint: "check the path"},
		{name: "ca_file not PEM", set: map[string]any{"ca_file": notPEM}, require: true,
			key: "ca_file", problem: "no PEM certificate", hint: "BEGIN CERTIFICATE"},
		{name: "cloud unknown", set: map[string]any{"cloud": "gcc"},
			key: "cloud", problem: "not one of global, usgov, usgovdod, china", hint: "GCC High usgov"},
		{name: "authority http", set: map[string]any{"authority_host": "http://localhost:8080"},
			key: "authority_host", problem: "not an https URL", hint: "MSAL only talks to an https authority"},
		{name: "authority no scheme", set: map[string]any{"authority_host": "login.microsoftonline.us"},
			key: "authority_host", problem: "not an absolute https URL", hint: "https://login.microsoftonline.com"},
		{name: "authority with tenant path", set: map[string]any{"authority_host": "https://login.microsoftonline.com/" + testTenant},
			key: "authority_host", problem: "has a path", hint: "tenant goes in tenant_id"},
		{name: "graph http not loopback", set: map[string]any{"graph_endpoint": "http://graph.example"},
			key: "graph_endpoint", problem: "not an https URL", hint: "localhost, 127.0.0.1 and ::1"},
		{name: "graph with version", set: map[string]any{"graph_endpoint": "https://graph.microsoft.com/v1.0/"},
			key: "graph_endpoint", problem: "API version", hint: "graphmail adds it"},
		{name: "graph with query", set: map[string]any{"graph_endpoint": "https://graph.microsoft.com/?x=1"},
			key: "graph_endpoint", problem: "query", hint: "https://graph.microsoft.com"},
		{name: "graph_scope not .default", set: map[string]any{"graph_scope": "Mail.Send"},
			key: "graph_scope", problem: "/.default scope", hint: "https://graph.microsoft.com/.default"},
		{name: "smtp.scope not .default", set: map[string]any{"smtp.scope": "https://outlook.office365.com/SMTP.Send"},
			key: "smtp.scope", problem: "/.default scope", hint: "https://outlook.office365.com/.default"},
		{name: "sender not an address", set: map[string]any{"sender": "reports"},
			key: "sender", problem: "not an e-mail address", hint: "reports@contoso.com"},
		{name: "sender with display name", set: map[string]any{"sender": "Reports <reports@contoso.com>"},
			key: "sender", problem: "not an e-mail address", hint: "address alone"},
		{name: "smtp.host with port", set: map[string]any{"smtp.host": "smtp.office365.com:587"},
			key: "smtp.host", problem: "not a host name", hint: "smtp.port"},
		{name: "smtp.port zero", set: map[string]any{"smtp.port": 0},
			key: "smtp.port", problem: "1 to 65535", hint: "587"},
		{name: "smtp.port too big", set: map[string]any{"smtp.port": 70000},
			key: "smtp.port", problem: "1 to 65535", hint: "587"},
		{name: "smtp.port not a number (env)", env: fakeEnv{"GRAPHMAIL_SMTP_PORT": "submission"},
			key: "smtp.port", problem: "not a whole number", hint: "587"},
		{name: "smtp.port fraction (file)", file: "smtp:\n  port: 58.7\n",
			key: "smtp.port", problem: "not a whole number", hint: "587"},
		{name: "smtp.fallback", set: map[string]any{"smtp.fallback": "always"},
			key: "smtp.fallback", problem: "not one of auto, never, only", hint: "only skips Graph"},
		{name: "log.level", env: fakeEnv{"GRAPHMAIL_LOG_LEVEL": "verbose"},
			key: "log.level", problem: "not one of debug, info, warn, error", hint: "use one of"},
		{name: "log.format", file: "log:\n  format: xml\n",
			key: "log.format", problem: "not one of text, json", hint: "use one of"},
		{name: "log.recipients not a bool", env: fakeEnv{"GRAPHMAIL_LOG_RECIPIENTS": "maybe"},
			key: "log.recipients", problem: "not true or false", hint: "true or false"},
		{name: "string key given a list", file: "sender: [a@contoso.com, b@contoso.com]\n", set: map[string]any{"sender": unset},
			key: "sender", problem: "got a list", hint: "write one value"},
		{name: "string key given a table", file: "tenant_id:\n  id: x\n", set: map[string]any{"tenant_id": unset},
			key: "tenant_id", problem: "got a table", hint: "write one value"},

		{name: "unknown file key, typo", file: "smtp:\n  hots: smtp.example\n",
			key: "smtp.hots", problem: "unknown key", hint: "did you mean smtp.host?"},
		{name: "unknown file key, misplaced", file: "host: smtp.example\n",
			key: "host", problem: "unknown key", hint: "did you mean smtp.host?"},
		{name: "unknown file key, no suggestion", file: "frobnicate: yes\n",
			key: "frobnicate", problem: "unknown key", hint: "valid names are tenant_id, client_id"},
		{name: "section given a value", file: "smtp: smtp.example\n",
			key: "smtp", problem: "not a section", hint: "host, port, fallback, scope"},
		{name: "unknown env var", env: fakeEnv{"GRAPHMAIL_SMTP_HOTS": "x", "GRAPHMAIL_CONFIG": ""},
			key: "GRAPHMAIL_SMTP_HOTS", problem: "unknown environment variable", hint: "did you mean GRAPHMAIL_SMTP_HOST?"},
		{name: "unknown override", set: map[string]any{"smtp.hostname": "x"},
			key: "smtp.hostname", problem: "unknown key", hint: "did you mean smtp.host?"},

		{name: "unsupported file type", file: "[smtp]\nhost=x\n", fileName: "config.ini",
			key: "config", problem: "unsupported file type .ini", hint: ".yaml, .yml, .toml or .json"},
		{name: "file does not parse", file: "smtp:\n  host: [unclosed\n",
			key: "config", problem: "cannot parse", hint: "fix the syntax there"},
		{name: "toml does not parse", file: "smtp = = 1\n", fileName: "config.toml",
			key: "config", problem: "cannot parse", hint: "fix the syntax there"},
		{name: "GRAPHMAIL_CONFIG names a missing file", env: fakeEnv{"GRAPHMAIL_CONFIG": missing},
			key: "config", problem: "no such file or directory", hint: "GRAPHMAIL_CONFIG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			over := baseOverrides()
			for k, v := range tt.set {
				if v == unset {
					delete(over, k)
				} else {
					over[k] = v
				}
			}
			opts := Options{Overrides: over, RequireCredentials: tt.require}
			if tt.file != "" {
				name := tt.fileName
				if name == "" {
					name = "config.yaml"
				}
				opts.ConfigFile = writeFile(t, t.TempDir(), name, tt.file)
			}
			_, err := load(opts, tt.env)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got error %v (%T), want Errors", err, err)
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), err)
			}
			e := errs[0]
			if e.Key != tt.key || !strings.Contains(e.Problem, tt.problem) || !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("got  Key %q Problem %q Hint %q\nwant Key %q Problem ~%q Hint ~%q", e.Key, e.Problem, e.Hint, tt.key, tt.problem, tt.hint)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error text contains the secret: %v", err)
			}
		})
	}
}

func TestExplicitConfigMissing(t *testing.T) {
	_, err := load(Options{ConfigFile: "/nonexistent/graphmail.yaml"}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Key != "config" {
		t.Fatalf("got %v, want an error on key config", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
}

func TestValidConfigurations(t *testing.T) {
	dir := t.TempDir()
	certFile := writeFile(t, dir, "cert.pem", testCAPEM(t))
	secretFile := writeFile(t, dir, "secret", testSecret)
	caFile := writeFile(t, dir, "ca.pem", testCAPEM(t))
	tests := []struct {
		name    string
		set     map[string]any
		env     fakeEnv
		require bool
	}{
		{"domain tenant", map[string]any{"tenant_id": "contoso.onmicrosoft.com"}, nil, true},
		{"certificate only", map[string]any{"client_secret": nil, "client_certificate": certFile}, nil, true},
		{"secret file only", map[string]any{"client_secret": nil, "client_secret_file": secretFile}, nil, true},
		{"certificate with ambient AZURE_CLIENT_SECRET", map[string]any{"client_secret": nil, "client_certificate": certFile},
			fakeEnv{"AZURE_CLIENT_SECRET": "ambient"}, true},
		{"ca_file PEM", map[string]any{"ca_file": caFile}, nil, true},
		{"loopback http graph", map[string]any{"graph_endpoint": "http://127.0.0.1:4443"}, nil, true},
		{"localhost http graph", map[string]any{"graph_endpoint": "http://localhost:8080/"}, nil, true},
		{"ipv6 loopback http graph", map[string]any{"graph_endpoint": "http://[::1]:8080"}, nil, true},
		{"graph behind a path prefix", map[string]any{"graph_endpoint": "https://proxy.example/graph"}, nil, true},
		{"nothing required, nothing set", map[string]any{"tenant_id": nil, "client_id": nil, "client_secret": nil, "sender": nil}, nil, false},
		{"missing files not checked without require", map[string]any{"client_secret_file": "/nonexistent", "ca_file": "/nonexistent"}, nil, false},
		{"GRAPHMAIL_CONFIG is not an unknown variable", nil, fakeEnv{"GRAPHMAIL_CONFIG": ""}, true},
		{"ambient AZURE_FEDERATED_TOKEN_FILE yields to a configured secret", nil, fakeEnv{"AZURE_FEDERATED_TOKEN_FILE": "/x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			over := baseOverrides()
			for k, v := range tt.set {
				over[k] = v
			}
			if _, err := load(Options{Overrides: over, RequireCredentials: tt.require}, tt.env); err != nil {
				t.Errorf("got error:\n%v\nwant none", err)
			}
		})
	}
}

func TestErrorsCollectedAndTyped(t *testing.T) {
	_, err := load(Options{
		Overrides:          map[string]any{"client_id": "nope", "smtp.port": 0, "log.format": "xml"},
		RequireCredentials: true,
	}, fakeEnv{"GRAPHMAIL_BOGUS": "1"})
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("errors.As(Errors) failed for %T", err)
	}
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	want := []string{"GRAPHMAIL_BOGUS", "tenant_id", "client_id", "client_secret", "sender", "smtp.port", "log.format"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("keys: got %q, want %q", keys, want)
	}
	var first *Error
	if !errors.As(err, &first) || first != errs[0] {
		t.Errorf("errors.As(*Error): got %v, want the first error %v", first, errs[0])
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != len(want) {
		t.Errorf("Error() has %d lines, want %d:\n%v", got, len(want), err)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Key: "client_id", Problem: "not a GUID", Hint: hintClient},
			"client_id: not a GUID — copy the Application (client) ID from the app registration's Overview page"},
		{&Error{Key: "smtp.port", Problem: "not a whole number"}, "smtp.port: not a whole number"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
	_, err := load(Options{Overrides: map[string]any{"client_id": "x"}}, nil)
	if got, want := err.Error(), "client_id: not a GUID — "+hintClient; got != want {
		t.Errorf("Load error:\ngot  %q\nwant %q", got, want)
	}
}

func TestErrorSource(t *testing.T) {
	_, err := load(Options{}, fakeEnv{"AZURE_CLIENT_ID": "not-a-guid"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	if got, want := e.Source, "azure-env AZURE_CLIENT_ID"; got != want {
		t.Errorf("Source: got %q, want %q", got, want)
	}
}

func TestParseErrorPosition(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"c.toml", "ok = 1\nbad = \n", "(line 2, column"},
		{"c.json", `{"sender": }`, "(byte 12)"},
		{"c.yaml", "smtp:\n  host: [x\n", "line"},
	}
	for _, tt := range tests {
		path := writeFile(t, t.TempDir(), tt.name, tt.content)
		_, err := load(Options{ConfigFile: path}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want a message containing %q", tt.name, err, tt.want)
		}
	}
}
