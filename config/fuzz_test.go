package config

import (
	"strings"
	"testing"
)

// FuzzLoadFile feeds arbitrary file contents through Load: it must never
// panic, and a secret in the file must never reach an error message.
func FuzzLoadFile(f *testing.F) {
	f.Add("yaml", "client_secret: x\nsmtp:\n  port: 25\n")
	f.Add("toml", "[smtp]\nport = \"x\"\n")
	f.Add("json", `{"log": {"level": 3}, "smtp": []}`)
	f.Add("yaml", "smtp: [1, 2]\ntoken_cache: {path: [x]}\n")
	f.Add("yaml", "serve: {allow_nets: [10.0.0.0/8, '::1', x, 1.2.3.4/40]}\nlog: {level: LOUD}\n")
	f.Add("json", `{"cloud": "", "auth": {"method": ["x"]}, "spool": {"dir": "rel"}}`)
	f.Fuzz(func(t *testing.T, format, content string) {
		switch format {
		case "yaml", "toml", "json":
		default:
			return
		}
		path := writeFile(t, t.TempDir(), "c."+format, content)
		c, err := load(Options{ConfigFile: path, RequireCredentials: true}, nil)
		if err == nil && c == nil {
			t.Fatal("nil Config without an error")
		}
		if err != nil && c != nil {
			t.Fatal("Config returned with an error")
		}
		if err != nil && strings.Contains(content, testSecret) && strings.Contains(err.Error(), testSecret) {
			t.Fatalf("secret in error: %v", err)
		}
	})
}
