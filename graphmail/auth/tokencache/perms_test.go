//go:build unix

package tokencache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

func TestPermissions(t *testing.T) {
	// The umask must not hide loose modes the test sets on purpose.
	defer syscall.Umask(syscall.Umask(0))
	const otherUID = 54321

	tests := []struct {
		name     string
		setup    func(t *testing.T, dir, file string)
		wantPath string // "dir" or "file"; "" means New succeeds
		wantHint string
	}{
		{"new directory and file", func(*testing.T, string, string) {}, "", ""},
		{"directory 0755", func(t *testing.T, dir, _ string) { mkdir(t, dir, 0o755) }, "", ""},
		{"directory 0777", func(t *testing.T, dir, _ string) { mkdir(t, dir, 0o777) }, "dir", "chmod 700 "},
		{"directory 0770", func(t *testing.T, dir, _ string) { mkdir(t, dir, 0o770) }, "dir", "chmod 700 "},
		{"directory 0702", func(t *testing.T, dir, _ string) { mkdir(t, dir, 0o702) }, "dir", "chmod 700 "},
		{"file 0600", func(t *testing.T, dir, file string) { mkdir(t, dir, 0o700); mkfile(t, file, 0o600) }, "", ""},
		{"file 0400", func(t *testing.T, dir, file string) { mkdir(t, dir, 0o700); mkfile(t, file, 0o400) }, "", ""},
		{"file 0644", func(t *testing.T, dir, file string) { mkdir(t, dir, 0o700); mkfile(t, file, 0o644) }, "file", "chmod 600 "},
		{"file 0660", func(t *testing.T, dir, file string) { mkdir(t, dir, 0o700); mkfile(t, file, 0o660) }, "file", "chmod 600 "},
		{"lock file 0666", func(t *testing.T, dir, file string) { mkdir(t, dir, 0o700); mkfile(t, file+LockSuffix, 0o666) }, "lock", "chmod 600 "},
		{"file is a symlink", func(t *testing.T, dir, file string) {
			mkdir(t, dir, 0o700)
			mkfile(t, file+".real", 0o600)
			if err := os.Symlink(file+".real", file); err != nil {
				t.Fatal(err)
			}
		}, "file", "remove "},
		{"file owned by another user", func(t *testing.T, dir, file string) {
			mkdir(t, dir, 0o700)
			mkfile(t, file, 0o600)
			chown(t, file, otherUID)
		}, "file", "remove "},
		{"directory owned by another user", func(t *testing.T, dir, _ string) {
			mkdir(t, dir, 0o700)
			chown(t, dir, otherUID)
		}, "dir", "chown "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "graphmail")
			file := filepath.Join(dir, "tokens.bin")
			tc.setup(t, dir, file)
			c, err := New(Options{Path: file, Credential: []byte("s"), TenantID: "t", ClientID: "c"})
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				checkMode(t, dir, 0o700|fs.ModeDir, tc.name == "new directory and file")
				m := &fakeMSAL{}
				m.set("AccessToken", "k", `{}`)
				must(t, c.Export(context.Background(), m, cache.ExportHints{}))
				checkMode(t, file, 0o600, true)
				checkMode(t, file+LockSuffix, 0o600, true)
				return
			}
			var pe *PermissionError
			if !errors.As(err, &pe) {
				t.Fatalf("New: err = %v, want *PermissionError", err)
			}
			want := map[string]string{"dir": dir, "file": file, "lock": file + LockSuffix}[tc.wantPath]
			if pe.Path != want {
				t.Errorf("Path = %s, want %s", pe.Path, want)
			}
			if !strings.HasPrefix(pe.Error(), "tokencache: "+want+" ") {
				t.Errorf("Error() = %q", pe.Error())
			}
			if !strings.Contains(pe.Hint(), tc.wantHint) {
				t.Errorf("Hint() = %q, want it to contain %q", pe.Hint(), tc.wantHint)
			}
		})
	}
}

func mkdir(t *testing.T, dir string, mode fs.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o700))
	must(t, os.Chmod(dir, mode))
}

func mkfile(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	must(t, os.WriteFile(path, nil, mode))
	must(t, os.Chmod(path, mode))
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	must(t, os.Lchown(path, uid, -1))
}

func checkMode(t *testing.T, path string, want fs.FileMode, exact bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if exact && fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode(), want)
	}
}

func TestHintQuotes(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/var/cache/graphmail", "chmod 700 /var/cache/graphmail"},
		{"/home/a b/x", `chmod 700 '/home/a b/x'`},
		{"/home/it's", `chmod 700 '/home/it'\''s'`},
	}
	for _, tc := range tests {
		pe := &PermissionError{Path: tc.path, fix: "chmod 700 " + quote(tc.path)}
		if got := pe.Hint(); got != tc.want {
			t.Errorf("Hint() = %q, want %q", got, tc.want)
		}
	}
}
