package config

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
)

// kindTypes is the Go type of the Config field each kind fills; kindEnum
// fills a named string type.
var kindTypes = map[kind]reflect.Type{
	kindString:   reflect.TypeFor[string](),
	kindSecret:   reflect.TypeFor[Secret](),
	kindURL:      reflect.TypeFor[string](),
	kindPath:     reflect.TypeFor[string](),
	kindInt:      reflect.TypeFor[int](),
	kindBool:     reflect.TypeFor[bool](),
	kindDuration: reflect.TypeFor[time.Duration](),
	kindSize:     reflect.TypeFor[int64](),
	kindList:     reflect.TypeFor[[]string](),
	kindNets:     reflect.TypeFor[[]netip.Prefix](),
	kindAccounts: reflect.TypeFor[map[string]Account](),
	kindRewrite:  reflect.TypeFor[[]Rewrite](),
	kindPaths:    reflect.TypeFor[[]string](),
	kindDate:     reflect.TypeFor[time.Time](),
}

// derivedFields are Config fields no key fills directly.
var derivedFields = map[string]bool{"Sources": true, "File": true, "ClientSecretFile": true, "ClientCertificate": true}

// leafFields returns the addresses of the fields of v, descending into
// nested structs, by Go path ("SMTP.Host").
func leafFields(v reflect.Value, prefix string, out map[uintptr]string) {
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[time.Time]() {
			leafFields(f, prefix+sf.Name+".", out)
			continue
		}
		out[f.Addr().Pointer()] = prefix + sf.Name
	}
}

// TestKeyFields checks every declaration of keyTable: each key fills its
// own Config field of the type its kind converts to, every Config field
// but Sources, File and the derived ClientSecretFile and ClientCertificate
// (the first of their lists) is filled by a key, enums have choices and other
// kinds none, every default converts cleanly, and docs fit a table row.
func TestKeyFields(t *testing.T) {
	var c Config
	fields := map[uintptr]string{}
	leafFields(reflect.ValueOf(&c).Elem(), "", fields)
	filled := map[string]string{}
	for _, k := range keyTable {
		p := reflect.ValueOf(k.field(&c))
		if p.Kind() != reflect.Pointer {
			t.Errorf("%s: field returns %s, want a pointer", k.name, p.Type())
			continue
		}
		name, ok := fields[p.Pointer()]
		if !ok {
			t.Errorf("%s: field does not point at a field of the Config", k.name)
			continue
		}
		if other, dup := filled[name]; dup {
			t.Errorf("%s and %s both fill %s", k.name, other, name)
		}
		filled[name] = k.name
		got := p.Type().Elem()
		if k.kind == kindEnum {
			if got.Kind() != reflect.String || got == reflect.TypeFor[string]() {
				t.Errorf("%s: enum fills %s %s, want a named string type", k.name, name, got)
			}
			if len(k.choices) == 0 {
				t.Errorf("%s: enum without choices", k.name)
			}
		} else {
			if want := kindTypes[k.kind]; got != want {
				t.Errorf("%s: fills %s of type %s, want %s for its kind", k.name, name, got, want)
			}
			if k.choices != nil || k.hint != "" {
				t.Errorf("%s: choices or a choice hint on a key that is not an enum", k.name)
			}
		}
		if k.def != nil && k.defFunc != nil {
			t.Errorf("%s: both def and defFunc", k.name)
		}
		if k.doc == "" || strings.ContainsAny(k.doc+k.defDoc, "|\n") {
			t.Errorf("%s: doc must be one non-empty line without |", k.name)
		}
		for cloud, def := range clouds {
			raw := k.def
			if k.defFunc != nil {
				raw = k.defFunc(defaultEnv{cloud: def, lookupEnv: fakeEnv{"HOME": "/home/u"}.lookup, euid: testEuid})
			}
			convert(k, raw, func(problem, _ string) { t.Errorf("%s: default (cloud %s): %s", k.name, cloud, problem) })
		}
	}
	for _, name := range fields {
		if _, ok := filled[name]; !ok && !derivedFields[name] {
			t.Errorf("Config.%s is filled by no key", name)
		}
	}
}

func TestComputedDefaults(t *testing.T) {
	tests := []struct {
		name            string
		env             fakeEnv
		euid            int
		cache, key, dir string
	}{
		{name: "user with HOME", env: fakeEnv{"HOME": "/home/u"}, euid: testEuid,
			cache: "/home/u/.cache/graphmail/tokens.bin", key: "/home/u/.config/graphmail/token-cache.key",
			dir: "/home/u/.local/state/graphmail/spool"},
		{name: "XDG variables win", env: fakeEnv{"HOME": "/home/u", "XDG_CACHE_HOME": "/xc", "XDG_CONFIG_HOME": "/xg", "XDG_STATE_HOME": "/xs"}, euid: testEuid,
			cache: "/xc/graphmail/tokens.bin", key: "/xg/graphmail/token-cache.key", dir: "/xs/graphmail/spool"},
		{name: "XDG variables win for root too", env: fakeEnv{"XDG_CACHE_HOME": "/xc", "XDG_CONFIG_HOME": "/xg", "XDG_STATE_HOME": "/xs"}, euid: 0,
			cache: "/xc/graphmail/tokens.bin", key: "/xg/graphmail/token-cache.key", dir: "/xs/graphmail/spool"},
		{name: "relative XDG variables are ignored", env: fakeEnv{"HOME": "/home/u", "XDG_CACHE_HOME": "c", "XDG_CONFIG_HOME": "g", "XDG_STATE_HOME": "s"}, euid: testEuid,
			cache: "/home/u/.cache/graphmail/tokens.bin", key: "/home/u/.config/graphmail/token-cache.key",
			dir: "/home/u/.local/state/graphmail/spool"},
		{name: "root", env: fakeEnv{"HOME": "/root"}, euid: 0,
			cache: "/var/cache/graphmail/tokens.bin", key: "/var/lib/graphmail/token-cache.key", dir: "/var/spool/graphmail"},
		{name: "service account without a home", env: fakeEnv{}, euid: testEuid,
			cache: "/var/cache/graphmail/tokens.bin", key: "/var/lib/graphmail/token-cache.key", dir: "/var/spool/graphmail"},
		{name: "empty HOME", env: fakeEnv{"HOME": ""}, euid: testEuid,
			cache: "/var/cache/graphmail/tokens.bin", key: "/var/lib/graphmail/token-cache.key", dir: "/var/spool/graphmail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(Options{Geteuid: func() int { return tt.euid }}, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{c.TokenCache.Path, c.TokenCache.KeyFile, c.Spool.Dir}
			want := []string{tt.cache, tt.key, tt.dir}
			if !slices.Equal(got, want) {
				t.Errorf("token cache, key file, spool dir:\ngot  %q\nwant %q", got, want)
			}
			if want := tokencache.DefaultPath(tt.env.lookup, tt.euid); c.TokenCache.Path != want {
				t.Errorf("token cache %q, but the token cache itself says %q", c.TokenCache.Path, want)
			}
			for _, k := range []string{"token_cache.path", "token_cache.key_file", "spool.dir"} {
				if c.Sources[k] != SourceDefault {
					t.Errorf("Sources[%s] = %q, want default", k, c.Sources[k])
				}
			}
			shown := map[string]string{}
			for _, s := range c.Settings() {
				shown[s.Key] = s.Value
			}
			if shown["token_cache.path"] != tt.cache || shown["spool.dir"] != tt.dir || shown["token_cache.key_file"] != tt.key {
				t.Errorf("config show prints %q %q %q, want the effective paths", shown["token_cache.path"], shown["token_cache.key_file"], shown["spool.dir"])
			}
		})
	}
}

func TestComputedDefaultsYieldToSettings(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "config.yaml", "spool: {dir: spool}\ntoken_cache: {path: none}\n")
	c, err := load(Options{ConfigFile: file}, fakeEnv{"HOME": "/home/u", "GRAPHMAIL_TOKEN_CACHE_KEY_FILE": "/k"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Spool.Dir != filepath.Join(dir, "spool") || c.TokenCache.Path != "none" || c.TokenCache.KeyFile != "/k" {
		t.Errorf("got spool %q cache %q key %q", c.Spool.Dir, c.TokenCache.Path, c.TokenCache.KeyFile)
	}
}

func TestAllowNets(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name    string
		file    string
		env     fakeEnv
		want    []netip.Prefix
		show    string
		problem string // the only error expected, on serve.allow_nets
	}{
		{name: "default", want: []netip.Prefix{p("127.0.0.0/8"), p("::1/128")}, show: "127.0.0.0/8,::1/128"},
		{name: "bare addresses are hosts", file: "serve: {allow_nets: [192.0.2.7, '2001:db8::1', 10.0.0.0/8]}",
			want: []netip.Prefix{p("192.0.2.7/32"), p("2001:db8::1/128"), p("10.0.0.0/8")}, show: "192.0.2.7/32,2001:db8::1/128,10.0.0.0/8"},
		{name: "comma-separated in env", env: fakeEnv{"GRAPHMAIL_SERVE_ALLOW_NETS": "10.1.2.0/24, 127.0.0.1"},
			want: []netip.Prefix{p("10.1.2.0/24"), p("127.0.0.1/32")}, show: "10.1.2.0/24,127.0.0.1/32"},
		{name: "empty list", file: "serve: {allow_nets: []}", want: []netip.Prefix{}, show: ""},
		{name: "prefix too long", file: "serve: {allow_nets: [10.0.0.0/33]}", problem: `"10.0.0.0/33" is not a network`},
		{name: "host name", env: fakeEnv{"GRAPHMAIL_SERVE_ALLOW_NETS": "localhost"}, problem: `"localhost" is not a network`},
		{name: "not a list", file: "serve: {allow_nets: {a: b}}", problem: "not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{}
			if tt.file != "" {
				opts.ConfigFile = writeFile(t, t.TempDir(), "c.yaml", tt.file)
			}
			c, err := load(opts, tt.env)
			if tt.problem != "" {
				errs, _ := err.(Errors)
				if len(errs) != 1 || errs[0].Key != "serve.allow_nets" || errs[0].Problem != tt.problem {
					t.Fatalf("got %v, want only serve.allow_nets: %s", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Serve.AllowNets, tt.want) {
				t.Errorf("AllowNets = %v, want %v", c.Serve.AllowNets, tt.want)
			}
			for _, s := range c.Settings() {
				if s.Key == "serve.allow_nets" && s.Value != tt.show {
					t.Errorf("config show: %q, want %q", s.Value, tt.show)
				}
			}
		})
	}
}

func TestEnums(t *testing.T) {
	tests := []struct {
		name    string
		over    map[string]any
		get     func(*Config) any
		want    any
		key     string // the only error expected, with problem and hint
		problem string
		hint    string
	}{
		{name: "fallback lower-cased", over: map[string]any{"smtp.fallback": " Never "},
			get: func(c *Config) any { return c.SMTP.Fallback }, want: FallbackNever},
		{name: "log level", over: map[string]any{"log.level": "DEBUG"},
			get: func(c *Config) any { return c.Log.Level }, want: LogDebug},
		{name: "log format", over: map[string]any{"log.format": "JSON"},
			get: func(c *Config) any { return c.Log.Format }, want: LogJSON},
		{name: "cloud", over: map[string]any{"cloud": "USGovDoD"},
			get: func(c *Config) any { return c.Cloud }, want: CloudUSGovDoD},
		{name: "empty cloud is global", over: map[string]any{"cloud": ""},
			get: func(c *Config) any { return c.Cloud }, want: CloudGlobal},
		{name: "large messages", over: map[string]any{"large_messages": "upload_session"},
			get: func(c *Config) any { return c.LargeMessages }, want: LargeMessagesUploadSession},
		{name: "auth method", over: map[string]any{"auth.method": "Managed_Identity"},
			get: func(c *Config) any { return c.Auth.Method }, want: MethodManagedIdentity},
		{name: "bad fallback", over: map[string]any{"smtp.fallback": "sometimes"},
			key: "smtp.fallback", problem: "not one of auto, never, only", hint: "only skips Graph"},
		{name: "empty fallback", over: map[string]any{"smtp.fallback": ""},
			key: "smtp.fallback", problem: "not one of auto, never, only", hint: "only skips Graph"},
		{name: "bad level, generic hint", over: map[string]any{"log.level": "loud"},
			key: "log.level", problem: "not one of debug, info, warn, error", hint: "use one of debug, info, warn, error"},
		{name: "bad auth method", over: map[string]any{"auth.method": "password"},
			key: "auth.method", problem: "not one of secret, certificate, workload_identity, managed_identity, delegated", hint: "leave it unset"},
		{name: "bad cloud", over: map[string]any{"cloud": "gcc"},
			key: "cloud", problem: "not one of global, usgov, usgovdod, china", hint: "GCC High usgov"},
		{name: "bad large messages", over: map[string]any{"large_messages": "chunked"},
			key: "large_messages", problem: "not empty or upload_session", hint: "Mail.ReadWrite"},
		{name: "enum given a list", over: map[string]any{"log.format": []any{"json"}},
			key: "log.format", problem: "expected a single value, got a list", hint: "write one value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(Options{Overrides: tt.over}, nil)
			if tt.key != "" {
				errs, _ := err.(Errors)
				if len(errs) != 1 || errs[0].Key != tt.key || errs[0].Problem != tt.problem || !strings.Contains(errs[0].Hint, tt.hint) {
					t.Fatalf("got %v\nwant only %s: %s — …%s…", err, tt.key, tt.problem, tt.hint)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}
