package winsvc

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestServiceSID: the SIDs Windows shows for known services (sc showsid).
func TestServiceSID(t *testing.T) {
	tests := []struct{ name, want string }{
		{"TrustedInstaller", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"},
		// the name is upper-cased first
		{"trustedinstaller", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"},
	}
	for _, tt := range tests {
		if got := ServiceSID(tt.name); got != tt.want {
			t.Errorf("ServiceSID(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
	sid := ServiceSID(Name)
	if !strings.HasPrefix(sid, "S-1-5-80-") || strings.Count(sid, "-") != 2+5+1 {
		t.Errorf("ServiceSID(%q) = %s, want S-1-5-80 and five numbers", Name, sid)
	}
}

// TestACL: a protected DACL, inherited by files and directories, granting
// full control to SYSTEM, Administrators and the service only.
func TestACL(t *testing.T) {
	want := "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + ServiceSID(Name) + ")"
	if got := ACL(); got != want {
		t.Errorf("ACL() = %s, want %s", got, want)
	}
	for _, everyone := range []string{";;;WD)", ";;;BU)", ";;;AU)", ";;;IU)"} {
		if strings.Contains(ACL(), everyone) {
			t.Errorf("ACL() %s grants %s", ACL(), everyone)
		}
	}
}

// TestNewLayout: every file under %ProgramData%\graphmail, with Windows
// paths, whatever form %ProgramData% takes.
func TestNewLayout(t *testing.T) {
	want := Layout{
		Dir:        `C:\ProgramData\graphmail`,
		Config:     `C:\ProgramData\graphmail\config.yaml`,
		Secret:     `C:\ProgramData\graphmail\secret`,
		Spool:      `C:\ProgramData\graphmail\spool`,
		TokenCache: `C:\ProgramData\graphmail\cache\tokens.bin`,
		Log:        `C:\ProgramData\graphmail\graphmail.log`,
	}
	for _, pd := range []string{`C:\ProgramData`, `C:\ProgramData\`, `C:/ProgramData/`} {
		got, err := NewLayout(pd)
		if pd == `C:/ProgramData/` {
			want.Dir, want.Config = `C:/ProgramData\graphmail`, `C:/ProgramData\graphmail\config.yaml`
			if err != nil || got.Dir != want.Dir || got.Config != want.Config {
				t.Errorf("NewLayout(%q) = %+v, %v", pd, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NewLayout(%q) =\n %+v, %v\nwant %+v", pd, got, err, want)
		}
	}
	if l, err := NewLayout(`\\server\share`); err != nil || l.Spool != `\\server\share\graphmail\spool` {
		t.Errorf("NewLayout(UNC) = %+v, %v", l, err)
	}
	for _, bad := range []string{"", "ProgramData", `\ProgramData`, "/var/lib", "C:ProgramData"} {
		if _, err := NewLayout(bad); err == nil {
			t.Errorf("NewLayout(%q): no error", bad)
		}
	}
}

// TestLayoutDirsAndArgs: the directories Install creates, parents first,
// and the command line the service manager runs.
func TestLayoutDirsAndArgs(t *testing.T) {
	l, err := NewLayout(`D:\Data`)
	if err != nil {
		t.Fatal(err)
	}
	wantDirs := []string{`D:\Data\graphmail`, `D:\Data\graphmail\spool`, `D:\Data\graphmail\cache`}
	if got := l.Dirs(); !reflect.DeepEqual(got, wantDirs) {
		t.Errorf("Dirs() = %q, want %q", got, wantDirs)
	}
	wantArgs := []string{"service", "run", "--config", `D:\Data\graphmail\config.yaml`}
	if got := l.RunArgs(); !reflect.DeepEqual(got, wantArgs) {
		t.Errorf("RunArgs() = %q, want %q", got, wantArgs)
	}
}

// TestDefaultConfig: the config Install writes parses as YAML and points
// every path at the layout, with backslashes intact; it holds no secret.
func TestDefaultConfig(t *testing.T) {
	l, err := NewLayout(`C:\Program Data's`)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ClientSecretFile string            `yaml:"client_secret_file"`
		Spool            map[string]string `yaml:"spool"`
		TokenCache       map[string]string `yaml:"token_cache"`
		Log              map[string]string `yaml:"log"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(l.DefaultConfig())))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("DefaultConfig does not parse: %v\n%s", err, l.DefaultConfig())
	}
	if cfg.ClientSecretFile != l.Secret || cfg.Spool["dir"] != l.Spool || cfg.TokenCache["path"] != l.TokenCache || cfg.Log["file"] != l.Log {
		t.Errorf("DefaultConfig paths = %+v, want those of %+v", cfg, l)
	}
	if cfg.Log["level"] != "warn" {
		t.Errorf("log.level = %q, want warn (the event log gets warnings and errors)", cfg.Log["level"])
	}
	if strings.Contains(string(l.DefaultConfig()), "client_secret:") {
		t.Error("DefaultConfig sets client_secret")
	}
}

// TestLineWriter: complete lines are emitted as they are written, without
// line endings or empty lines; Flush emits the rest.
func TestLineWriter(t *testing.T) {
	var mu sync.Mutex
	var got []string
	w := &LineWriter{Emit: func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }}
	for _, chunk := range []string{"graphmail: serving", " SMTP\r\n", "\n", "two\nthree\npart", "ial"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if want := []string{"graphmail: serving SMTP", "two", "three"}; !reflect.DeepEqual(got, want) {
		t.Errorf("before Flush: %q, want %q", got, want)
	}
	w.Flush()
	w.Flush()
	if want := []string{"graphmail: serving SMTP", "two", "three", "partial"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after Flush: %q, want %q", got, want)
	}
}

// TestStateError names the operation and the state, and is found with
// errors.As.
func TestStateError(t *testing.T) {
	var err error = &StateError{Op: "start"}
	var se *StateError
	if !errors.As(err, &se) || se.Installed {
		t.Fatalf("errors.As: %v", err)
	}
	if got := err.Error(); got != "winsvc: start: the graphmail service is not installed" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&StateError{Op: "install", Installed: true}).Error(); got != "winsvc: install: the graphmail service is already installed" {
		t.Errorf("Error() = %q", got)
	}
}
