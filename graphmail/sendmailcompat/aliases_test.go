package sendmailcompat

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testAliases is an aliases file in the styles found in the field:
// Debian's /etc/aliases, msmtp's, and what admins add.
const testAliases = `# See man 5 aliases for format
postmaster:    root
Root: ops@contoso.com
www-data: web-team@contoso.com, ops@contoso.com
admin: Alice <alice@contoso.com>,
    bob@contoso.com,
	root
  # an indented comment does not end the entry
team: admin, ROOT, Bob@Contoso.com, carol@contoso.com
localuser: root@localhost
hostuser: root@WEB1.example.com
mixed: |/usr/bin/procmail, ops@contoso.com
pipe-only: "|/usr/local/bin/handler -x", /var/log/mail.txt
include-only: :include:/etc/mail/list
mailbox-only: \mailbox-only
empty:
root: duplicate@contoso.com
`

func mustRead(t testing.TB, text string) *Aliases {
	t.Helper()
	a, err := ReadAliases(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestResolve(t *testing.T) {
	a := mustRead(t, testAliases)
	a.LocalDomains = []string{"web1", "WEB1.example.com"}
	tests := []struct {
		addr string
		want []string
	}{
		{"root", []string{"ops@contoso.com"}},
		{"ROOT", []string{"ops@contoso.com"}},
		{"root@localhost", []string{"ops@contoso.com"}},
		{"root@LocalHost.localdomain", []string{"ops@contoso.com"}},
		{"root@web1", []string{"ops@contoso.com"}},
		{"root@web1.example.com.", []string{"ops@contoso.com"}},
		{"postmaster", []string{"ops@contoso.com"}},
		{"www-data", []string{"web-team@contoso.com", "ops@contoso.com"}},
		{"admin", []string{"alice@contoso.com", "bob@contoso.com", "ops@contoso.com"}},
		// recursion through admin and root, duplicates dropped ignoring case
		{"team", []string{"alice@contoso.com", "bob@contoso.com", "ops@contoso.com", "carol@contoso.com"}},
		{"localuser", []string{"ops@contoso.com"}},
		{"hostuser", []string{"ops@contoso.com"}},
		{"mixed", []string{"ops@contoso.com"}},
		// not local: returned as given
		{"Someone@Example.com", []string{"Someone@Example.com"}},
		{"root@web2", []string{"root@web2"}},
	}
	for _, tt := range tests {
		got, err := a.Resolve(tt.addr)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
}

func TestResolveUnknown(t *testing.T) {
	a := mustRead(t, testAliases)
	tests := []struct {
		addr, name string
		noTargets  bool
	}{
		{"nobody", "nobody", false},
		{"nobody@localhost", "nobody", false},
		{"pipe-only", "pipe-only", true},
		{"include-only", "include-only", true},
		{"mailbox-only", "mailbox-only", true},
		{"empty", "empty", true},
	}
	for _, tt := range tests {
		_, err := a.Resolve(tt.addr)
		var u *UnknownRecipientError
		if !errors.As(err, &u) {
			t.Errorf("Resolve(%q) = %v, want *UnknownRecipientError", tt.addr, err)
			continue
		}
		if u.Address != tt.addr || u.Name != tt.name || u.NoTargets != tt.noTargets || !u.UnknownRecipient() {
			t.Errorf("Resolve(%q) = %+v, want name %q, NoTargets %v", tt.addr, u, tt.name, tt.noTargets)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.addr)) {
			t.Errorf("error %q does not name %q", err, tt.addr)
		}
	}

	// An alias that points to an unknown name names both.
	b := mustRead(t, "postmaster: root\n")
	_, err := b.Resolve("postmaster")
	var u *UnknownRecipientError
	if !errors.As(err, &u) || u.Address != "postmaster" || u.Name != "root" {
		t.Fatalf("Resolve(postmaster) = %v, want root unknown", err)
	}
	if want := `local recipient "postmaster" resolves to "root", which has no alias`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestResolveNil(t *testing.T) {
	var a *Aliases
	for _, addr := range []string{"root", "www-data", "root@localhost"} {
		var u *UnknownRecipientError
		if _, err := a.Resolve(addr); !errors.As(err, &u) || u.Name != strings.TrimSuffix(addr, "@localhost") {
			t.Errorf("nil Resolve(%q) = %v, want *UnknownRecipientError", addr, err)
		}
	}
	if got, err := a.Resolve("root@web1"); err != nil || !reflect.DeepEqual(got, []string{"root@web1"}) {
		t.Errorf("nil Resolve(root@web1) = %q, %v; a nil *Aliases knows no host names", got, err)
	}
	if a.IsLocal("a@example.com") || !a.IsLocal("root") {
		t.Error("nil IsLocal wrong")
	}
}

func TestResolveDefault(t *testing.T) {
	a := mustRead(t, "root: ops@contoso.com\ndefault: it@contoso.com\npostmaster: nobody\n")
	for addr, want := range map[string][]string{
		"root":             {"ops@contoso.com"},
		"www-data":         {"it@contoso.com"},
		"backup@localhost": {"it@contoso.com"},
		"postmaster":       {"it@contoso.com"}, // nobody has no entry: default
		"default":          {"it@contoso.com"},
	} {
		if got, err := a.Resolve(addr); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Resolve(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

func TestResolveAliasErrors(t *testing.T) {
	var deep strings.Builder
	for i := range MaxAliasDepth + 1 {
		fmt.Fprintf(&deep, "a%d: a%d\n", i, i+1)
	}
	fmt.Fprintf(&deep, "a%d: end@example.com\n", MaxAliasDepth+1)
	var wide strings.Builder
	wide.WriteString("big: ")
	for i := range MaxAliasAddresses + 1 {
		fmt.Fprintf(&wide, "u%d@example.com, ", i)
	}
	// Many names sharing one large alias: few addresses, much merging.
	var shared strings.Builder
	shared.WriteString("top: ")
	for i := range 150 {
		fmt.Fprintf(&shared, "m%d, ", i)
	}
	shared.WriteString("\ncommon: ")
	for i := range 900 {
		fmt.Fprintf(&shared, "c%d@example.com, ", i)
	}
	shared.WriteString("\n")
	for i := range 150 {
		fmt.Fprintf(&shared, "m%d: common\n", i)
	}
	tests := []struct {
		name, file, addr, want string
	}{
		{"self loop", "root: root\n", "root", "loop: root -> root"},
		{"loop", "root: admin\nadmin: Root, ops@example.com\n", "root", "loop: root -> admin -> Root"},
		{"loop through default", "default: root\n", "cron", "loop: cron (default) -> root (default)"},
		{"too deep", deep.String(), "a0", "nested more than"},
		{"too many addresses", wide.String(), "big", "expands to more than"},
		{"shared", shared.String(), "top", "expands to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustRead(t, tt.file)
			_, err := a.Resolve(tt.addr)
			var ae *AliasError
			if !errors.As(err, &ae) || !ae.ConfigProblem() {
				t.Fatalf("Resolve(%q) = %v, want *AliasError", tt.addr, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

// TestResolveFanOut resolves an alias whose paths double at every level:
// each alias is expanded once.
func TestResolveFanOut(t *testing.T) {
	var fan strings.Builder
	for i := range MaxAliasDepth - 1 {
		fmt.Fprintf(&fan, "f%d: f%d, f%d, f%d\n", i, i+1, i+1, i+1)
	}
	fmt.Fprintf(&fan, "f%d: ", MaxAliasDepth-1)
	for i := range 400 {
		fmt.Fprintf(&fan, "x%d@example.com, ", i)
	}
	got, err := mustRead(t, fan.String()).Resolve("f0")
	if err != nil || len(got) != 400 {
		t.Fatalf("Resolve(f0) = %d addresses, %v; want 400", len(got), err)
	}
}

func TestReadAliasesWarnings(t *testing.T) {
	a := mustRead(t, testAliases+" continued: nothing\nbad line\nwith space: x@example.com\nbad-target: a b c, ok@example.com\r\n")
	got := make([]string, len(a.Warnings))
	for i, w := range a.Warnings {
		got[i] = w.String()
	}
	want := []string{
		`line 12: alias "mixed": target "|/usr/bin/procmail" skipped: commands are not supported`,
		`line 13: alias "pipe-only": target "\"|/usr/local/bin/handler -x\"" skipped: commands are not supported`,
		`line 13: alias "pipe-only": target "/var/log/mail.txt" skipped: files are not supported`,
		`line 14: alias "include-only": target ":include:/etc/mail/list" skipped: included files are not supported`,
		`line 15: alias "mailbox-only": target "\\mailbox-only" skipped: delivery to a local mailbox is not supported`,
		`line 16: alias "empty": no targets`,
		`line 17: alias "root": defined before on line 3; this entry is ignored`,
		`line 19: "bad line" is not "name: address, ..."`,
		`line 20: alias name "with space" is not a local name`,
		`line 21: alias "bad-target": target "a b c" skipped: not an address (want local@domain, <local@domain>, Name <local@domain> or a local name)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\ngot  %q\nwant %q", got, want)
	}
	// The continuation line joined the entry before it, the CRLF line
	// kept its target.
	if got, err := a.Resolve("bad-target"); err != nil || !reflect.DeepEqual(got, []string{"ok@example.com"}) {
		t.Errorf("Resolve(bad-target) = %q, %v", got, err)
	}

	b := mustRead(t, " leading continuation\n")
	if len(b.Warnings) != 1 || b.Warnings[0].Line != 1 {
		t.Errorf("warnings %v, want one for line 1", b.Warnings)
	}

	many := mustRead(t, strings.Repeat("bad\n", 100))
	if n := len(many.Warnings); n != maxWarnings+1 || many.Warnings[n-1].String() != "80 more problems not listed" {
		t.Errorf("%d warnings, last %v; want %d and a count", n, many.Warnings[n-1], maxWarnings+1)
	}
}

func TestReadAliasesLimits(t *testing.T) {
	big := strings.Repeat("# padding\n", MaxAliasesSize/10+1)
	_, err := ReadAliases(strings.NewReader(big))
	var ae *AliasError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadAliases(%d bytes) = %v, want *AliasError", len(big), err)
	}
	if _, err := ReadAliases(strings.NewReader(big[:MaxAliasesSize])); err != nil {
		t.Errorf("ReadAliases(%d bytes) = %v", MaxAliasesSize, err)
	}
}

func TestLoadAliases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aliases")
	if err := os.WriteFile(path, []byte("root: ops@contoso.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := LoadAliases(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Resolve("root"); err != nil || got[0] != "ops@contoso.com" {
		t.Errorf("Resolve(root) = %q, %v", got, err)
	}
	_, err = LoadAliases(path + ".missing")
	var ae *AliasError
	if !errors.As(err, &ae) || !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "sendmailcompat: aliases: ") {
		t.Errorf("LoadAliases(missing) = %v, want an *AliasError wrapping fs.ErrNotExist", err)
	}
}
