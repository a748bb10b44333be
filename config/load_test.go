package config

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		file   string // YAML; "" = no file
		env    fakeEnv
		over   map[string]any
		key    string // checked in Sources
		get    func(*Config) any
		want   any
		source string
	}{
		{name: "default", key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "smtp.office365.com", source: "default"},
		{name: "file beats default", file: "smtp:\n  host: file.example\n", key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "file.example", source: "file"},
		{name: "env beats file", file: "smtp:\n  host: file.example\n",
			env: fakeEnv{"GRAPHMAIL_SMTP_HOST": "env.example"}, key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "env.example", source: "env"},
		{name: "flag beats env", file: "smtp:\n  host: file.example\n",
			env: fakeEnv{"GRAPHMAIL_SMTP_HOST": "env.example"}, over: map[string]any{"smtp.host": "flag.example"},
			key: "smtp.host", get: func(c *Config) any { return c.SMTP.Host }, want: "flag.example", source: "flag"},
		{name: "override key is case-insensitive", over: map[string]any{"SMTP.Host": "flag.example"},
			key: "smtp.host", get: func(c *Config) any { return c.SMTP.Host }, want: "flag.example", source: "flag"},
		{name: "nil override is ignored", env: fakeEnv{"GRAPHMAIL_SMTP_HOST": "env.example"},
			over: map[string]any{"smtp.host": nil}, key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "env.example", source: "env"},
		{name: "empty env var counts as unset", file: "sender: file@contoso.com\n",
			env: fakeEnv{"GRAPHMAIL_SENDER": ""}, key: "sender",
			get: func(c *Config) any { return c.Sender }, want: "file@contoso.com", source: "file"},

		{name: "env only, no file: GRAPHMAIL_SMTP_HOST", env: fakeEnv{"GRAPHMAIL_SMTP_HOST": "env.example"},
			key: "smtp.host", get: func(c *Config) any { return c.SMTP.Host }, want: "env.example", source: "env"},
		{name: "env only, no file: GRAPHMAIL_TOKEN_CACHE_PATH", env: fakeEnv{"GRAPHMAIL_TOKEN_CACHE_PATH": "/var/cache/gm.json"},
			key: "token_cache.path", get: func(c *Config) any { return c.TokenCache.Path }, want: "/var/cache/gm.json", source: "env"},
		{name: "env only, no file: GRAPHMAIL_TENANT_ID", env: fakeEnv{"GRAPHMAIL_TENANT_ID": testTenant},
			key: "tenant_id", get: func(c *Config) any { return c.TenantID }, want: testTenant, source: "env"},
		{name: "env int", env: fakeEnv{"GRAPHMAIL_SMTP_PORT": "2525"},
			key: "smtp.port", get: func(c *Config) any { return c.SMTP.Port }, want: 2525, source: "env"},
		{name: "env bool", env: fakeEnv{"GRAPHMAIL_SAVE_TO_SENT_ITEMS": "false"},
			key: "save_to_sent_items", get: func(c *Config) any { return c.SaveToSentItems }, want: false, source: "env"},
		{name: "flag typed int", over: map[string]any{"smtp.port": 465},
			key: "smtp.port", get: func(c *Config) any { return c.SMTP.Port }, want: 465, source: "flag"},
		{name: "flag typed bool", over: map[string]any{"log.recipients": true},
			key: "log.recipients", get: func(c *Config) any { return c.Log.Recipients }, want: true, source: "flag"},

		{name: "AZURE_TENANT_ID fallback", env: fakeEnv{"AZURE_TENANT_ID": testTenant},
			key: "tenant_id", get: func(c *Config) any { return c.TenantID }, want: testTenant, source: "azure-env"},
		{name: "AZURE_CLIENT_ID fallback", env: fakeEnv{"AZURE_CLIENT_ID": testClient},
			key: "client_id", get: func(c *Config) any { return c.ClientID }, want: testClient, source: "azure-env"},
		{name: "AZURE_CLIENT_SECRET fallback", env: fakeEnv{"AZURE_CLIENT_SECRET": testSecret},
			key: "client_secret", get: func(c *Config) any { return c.ClientSecret.Reveal() }, want: testSecret, source: "azure-env"},
		{name: "AZURE_CLIENT_CERTIFICATE_PATH fallback", env: fakeEnv{"AZURE_CLIENT_CERTIFICATE_PATH": "/x/cert.pem"},
			key: "client_certificate", get: func(c *Config) any { return c.ClientCertificate }, want: "/x/cert.pem", source: "azure-env"},
		{name: "AZURE_CLIENT_CERTIFICATE_PASSWORD fallback", env: fakeEnv{"AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw"},
			key: "client_certificate_password", get: func(c *Config) any { return c.ClientCertificatePassword.Reveal() }, want: "pw", source: "azure-env"},
		{name: "AZURE_AUTHORITY_HOST fallback, slash trimmed", env: fakeEnv{"AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/"},
			key: "authority_host", get: func(c *Config) any { return c.AuthorityHost }, want: "https://login.microsoftonline.us", source: "azure-env"},
		{name: "file beats AZURE_TENANT_ID", file: "tenant_id: contoso.onmicrosoft.com\n", env: fakeEnv{"AZURE_TENANT_ID": testTenant},
			key: "tenant_id", get: func(c *Config) any { return c.TenantID }, want: "contoso.onmicrosoft.com", source: "file"},
		{name: "file beats AZURE_AUTHORITY_HOST", file: "authority_host: https://login.partner.example\n",
			env: fakeEnv{"AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us"},
			key: "authority_host", get: func(c *Config) any { return c.AuthorityHost }, want: "https://login.partner.example", source: "file"},
		{name: "GRAPHMAIL env beats AZURE env", env: fakeEnv{"AZURE_CLIENT_ID": testClient, "GRAPHMAIL_CLIENT_ID": "11111111-2222-3333-4444-555555555555"},
			key: "client_id", get: func(c *Config) any { return c.ClientID }, want: "11111111-2222-3333-4444-555555555555", source: "env"},
		{name: "AZURE_CLIENT_SECRET ignored when graphmail's own credential is set",
			file: "client_certificate: /x/cert.pem\n", env: fakeEnv{"AZURE_CLIENT_SECRET": testSecret},
			key: "client_secret", get: func(c *Config) any { return c.ClientSecret.Reveal() }, want: "", source: "default"},

		{name: "cloud usgov authority", file: "cloud: usgov\n", key: "authority_host",
			get: func(c *Config) any { return c.AuthorityHost }, want: "https://login.microsoftonline.us", source: "default"},
		{name: "cloud usgovdod graph", file: "cloud: usgovdod\n", key: "graph_endpoint",
			get: func(c *Config) any { return c.GraphEndpoint }, want: "https://dod-graph.microsoft.us", source: "default"},
		{name: "cloud usgovdod graph scope", file: "cloud: usgovdod\n", key: "graph_scope",
			get: func(c *Config) any { return c.GraphScope }, want: "https://dod-graph.microsoft.us/.default", source: "default"},
		{name: "cloud usgovdod smtp scope", file: "cloud: usgovdod\n", key: "smtp.scope",
			get: func(c *Config) any { return c.SMTP.Scope }, want: "https://outlook-dod.office365.us/.default", source: "default"},
		{name: "cloud usgov smtp host", env: fakeEnv{"GRAPHMAIL_CLOUD": "USGov"}, key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "smtp.office365.us", source: "default"},
		{name: "cloud china smtp host", file: "cloud: china\n", key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "smtp.partner.outlook.cn", source: "default"},
		{name: "cloud china graph scope", file: "cloud: china\n", key: "graph_scope",
			get: func(c *Config) any { return c.GraphScope }, want: "https://microsoftgraph.chinacloudapi.cn/.default", source: "default"},
		{name: "cloud global smtp scope", key: "smtp.scope",
			get: func(c *Config) any { return c.SMTP.Scope }, want: "https://outlook.office365.com/.default", source: "default"},
		{name: "test graph endpoint keeps the real scope", over: map[string]any{"graph_endpoint": "https://127.0.0.1:4443/"},
			key: "graph_scope", get: func(c *Config) any { return c.GraphScope }, want: "https://graph.microsoft.com/.default", source: "default"},
		{name: "graph endpoint slash trimmed", over: map[string]any{"graph_endpoint": "https://127.0.0.1:4443/"},
			key: "graph_endpoint", get: func(c *Config) any { return c.GraphEndpoint }, want: "https://127.0.0.1:4443", source: "flag"},
		{name: "explicit smtp.scope", file: "smtp:\n  scope: https://outlook.example/.default\n", key: "smtp.scope",
			get: func(c *Config) any { return c.SMTP.Scope }, want: "https://outlook.example/.default", source: "file"},

		{name: "upper-case keys in file", file: "SMTP:\n  Host: file.example\n", key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "file.example", source: "file"},
		{name: "dotted key in file", file: "smtp.port: 2525\n", key: "smtp.port",
			get: func(c *Config) any { return c.SMTP.Port }, want: 2525, source: "file"},
		{name: "yaml null is absent", file: "smtp:\n  host:\n", key: "smtp.host",
			get: func(c *Config) any { return c.SMTP.Host }, want: "smtp.office365.com", source: "default"},
		{name: "instance_discovery default", key: "instance_discovery",
			get: func(c *Config) any { return c.InstanceDiscovery }, want: true, source: "default"},
		{name: "log defaults", key: "log.level",
			get: func(c *Config) any { return c.Log }, want: Log{Level: "info", Format: "text"}, source: "default"},
		{name: "token cache none", file: "token_cache:\n  path: none\n", key: "token_cache.path",
			get: func(c *Config) any { return c.TokenCache.Path }, want: "none", source: "file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Overrides: tt.over}
			if tt.file != "" {
				opts.ConfigFile = writeFile(t, t.TempDir(), "config.yaml", tt.file)
			}
			c, err := load(opts, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("value: got %#v, want %#v", got, tt.want)
			}
			if got := c.Sources[tt.key]; got != tt.source {
				t.Errorf("Sources[%q]: got %q, want %q", tt.key, got, tt.source)
			}
			if tt.file == "" && c.File != "" {
				t.Errorf("File: got %q, want \"\"", c.File)
			}
		})
	}
}

func TestSourcesCoverEveryKey(t *testing.T) {
	c, err := load(Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if got := c.Sources[k]; got != SourceDefault {
			t.Errorf("Sources[%q]: got %q, want %q", k, got, SourceDefault)
		}
	}
	if got, want := len(c.Sources), len(Keys()); got != want {
		t.Errorf("len(Sources): got %d, want %d", got, want)
	}
}

func TestRelativePathsInFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "etc/config.yaml", "client_secret_file: secret.txt\nca_file: /abs/ca.pem\n")
	writeFile(t, dir, "etc/secret.txt", testSecret+"\n")
	c, err := load(Options{ConfigFile: cfgPath}, fakeEnv{"GRAPHMAIL_TOKEN_CACHE_PATH": "rel/cache.json"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ClientSecretFile, filepath.Join(dir, "etc", "secret.txt"); got != want {
		t.Errorf("ClientSecretFile: got %q, want %q", got, want)
	}
	if got, want := c.ClientSecret.Reveal(), testSecret; got != want {
		t.Errorf("ClientSecret: got %q, want %q (trailing newline trimmed)", got, want)
	}
	if got, want := c.CAFile, "/abs/ca.pem"; got != want {
		t.Errorf("CAFile: got %q, want %q", got, want)
	}
	if got, want := c.TokenCache.Path, "rel/cache.json"; got != want {
		t.Errorf("TokenCache.Path from env: got %q, want %q (env paths stay as given)", got, want)
	}
}

func TestFileFormats(t *testing.T) {
	want := struct {
		tenant, host string
		port         int
		recipients   bool
	}{testTenant, "smtp.example", 2525, true}
	tests := []struct{ name, file, content string }{
		{"yaml", "c.yaml", "tenant_id: " + testTenant + "\nsmtp:\n  host: smtp.example\n  port: 2525\nlog:\n  recipients: true\n"},
		{"yml", "c.yml", "tenant_id: " + testTenant + "\nsmtp:\n  host: smtp.example\n  port: 2525\nlog:\n  recipients: true\n"},
		{"no extension is yaml", "graphmail", "tenant_id: " + testTenant + "\nsmtp: {host: smtp.example, port: 2525}\nlog: {recipients: true}\n"},
		{"toml", "c.toml", "tenant_id = \"" + testTenant + "\"\n[smtp]\nhost = \"smtp.example\"\nport = 2525\n[log]\nrecipients = true\n"},
		{"json", "c.json", `{"tenant_id": "` + testTenant + `", "smtp": {"host": "smtp.example", "port": 2525}, "log": {"recipients": true}}`},
		{"upper-case extension", "C.JSON", `{"Tenant_ID": "` + testTenant + `", "SMTP": {"Host": "smtp.example", "Port": "2525"}, "log": {"recipients": "true"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.file, tt.content)
			c, err := load(Options{ConfigFile: path}, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := want
			got.tenant, got.host, got.port, got.recipients = c.TenantID, c.SMTP.Host, c.SMTP.Port, c.Log.Recipients
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if c.File != path {
				t.Errorf("File: got %q, want %q", c.File, path)
			}
			for _, k := range []string{"tenant_id", "smtp.host", "smtp.port", "log.recipients"} {
				if c.Sources[k] != SourceFile {
					t.Errorf("Sources[%q]: got %q, want file", k, c.Sources[k])
				}
			}
		})
	}
}

func TestConfigFileSelection(t *testing.T) {
	dir := t.TempDir()
	named := writeFile(t, dir, "named.yaml", "sender: named@contoso.com\n")
	fromEnv := writeFile(t, dir, "env.toml", "sender = \"env@contoso.com\"\n")
	first := writeFile(t, dir, "first/config.yaml", "sender: first@contoso.com\n")
	second := writeFile(t, dir, "second/config.yaml", "sender: second@contoso.com\n")
	absent := filepath.Join(dir, "absent/config.yaml")

	tests := []struct {
		name       string
		configFile string
		env        fakeEnv
		search     []string
		wantFile   string
		wantSender string
	}{
		{"--config beats GRAPHMAIL_CONFIG and search", named, fakeEnv{"GRAPHMAIL_CONFIG": fromEnv}, []string{first}, named, "named@contoso.com"},
		{"GRAPHMAIL_CONFIG beats search", "", fakeEnv{"GRAPHMAIL_CONFIG": fromEnv}, []string{first}, fromEnv, "env@contoso.com"},
		{"first existing search path", "", nil, []string{absent, first, second}, first, "first@contoso.com"},
		{"search order matters", "", nil, []string{second, first}, second, "second@contoso.com"},
		{"nothing found", "", nil, []string{absent}, "", ""},
		{"empty search list", "", nil, []string{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(Options{ConfigFile: tt.configFile, SearchPaths: tt.search}, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.File != tt.wantFile || c.Sender != tt.wantSender {
				t.Errorf("got File %q Sender %q, want File %q Sender %q", c.File, c.Sender, tt.wantFile, tt.wantSender)
			}
		})
	}
}

func TestDefaultSearchPaths(t *testing.T) {
	tests := []struct {
		name string
		env  fakeEnv
		want []string
	}{
		{"XDG_CONFIG_HOME", fakeEnv{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"},
			withExts("graphmail", "/xdg/graphmail/config", "/etc/graphmail/config")},
		{"HOME", fakeEnv{"HOME": "/home/u"},
			withExts("graphmail", "/home/u/.config/graphmail/config", "/etc/graphmail/config")},
		{"neither", fakeEnv{}, withExts("graphmail", "/etc/graphmail/config")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultSearchPaths(tt.env.lookup); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// withExts lists each stem with .yaml, .yml, .toml and .json, in that order.
func withExts(stems ...string) []string {
	var out []string
	for _, s := range stems {
		out = append(out, s+".yaml", s+".yml", s+".toml", s+".json")
	}
	return out
}

func TestSearchUsesXDGFromInjectedEnv(t *testing.T) {
	xdg := t.TempDir()
	path := writeFile(t, xdg, "graphmail/config.yaml", "sender: xdg@contoso.com\n")
	env := fakeEnv{"XDG_CONFIG_HOME": xdg}
	c, err := Load(Options{LookupEnv: env.lookup, Environ: env.environ})
	if err != nil {
		t.Fatal(err)
	}
	// ./graphmail.yaml and /etc/graphmail/config.yaml are not expected to
	// exist where tests run; if one does, this test says so.
	if c.File != path {
		t.Errorf("File: got %q, want %q", c.File, path)
	}
}

func TestKeyTable(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		env := EnvName(k)
		if other, dup := seen[env]; dup {
			t.Errorf("keys %q and %q share %s", k, other, env)
		}
		seen[env] = k
	}
	for key, want := range map[string]string{
		"tenant_id": "GRAPHMAIL_TENANT_ID", "smtp.host": "GRAPHMAIL_SMTP_HOST", "token_cache.path": "GRAPHMAIL_TOKEN_CACHE_PATH",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q): got %q, want %q", key, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"smtp.hots", "smtp.host"},
		{"tenantid", "tenant_id"},
		{"tenant-id", "tenant_id"},
		{"client_secert", "client_secret"},
		{"host", "smtp.host"},
		{"level", "log.level"},
		{"loglevel", "log.level"},
		{"zzzzzzzz", ""},
		{"password", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, Keys()); got != tt.want {
			t.Errorf("suggest(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
