//go:build unix

package tokencache

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// validKey is a key file's content and the key it holds.
const validKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestLoadKey(t *testing.T) {
	want, _ := hex.DecodeString(validKey)
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, file string)
		create  bool
		key     []byte // the key expected; nil: a fresh random key
		wantErr string // "notexist", "perm", "content" or "" for success
		errPath string // "dir" or "file" for a *PermissionError
		hint    string // a *PermissionError's hint starts with it
	}{
		{name: "missing, create false", setup: func(*testing.T, string, string) {}, wantErr: "notexist"},
		{name: "missing, create true", setup: func(*testing.T, string, string) {}, create: true},
		{name: "existing", setup: writeKey(validKey+"\n", 0o600), key: want},
		{name: "existing, create true keeps it", setup: writeKey(validKey+"\n", 0o600), create: true, key: want},
		{name: "white space around", setup: writeKey("\n  "+strings.ToUpper(validKey)+" \r\n", 0o400), key: want},
		{name: "mode 0644", setup: writeKey(validKey+"\n", 0o644), wantErr: "perm", errPath: "file", hint: "chmod 600 "},
		{name: "mode 0640, create true", setup: writeKey(validKey+"\n", 0o640), create: true, wantErr: "perm", errPath: "file", hint: "chmod 600 "},
		{name: "mode 0604", setup: writeKey(validKey+"\n", 0o604), wantErr: "perm", errPath: "file", hint: "chmod 600 "},
		{name: "not hex", setup: writeKey("secret-not-hex-"+validKey[15:]+"\n", 0o600), create: true, wantErr: "content"},
		{name: "16 bytes", setup: writeKey(validKey[:32]+"\n", 0o600), wantErr: "content"},
		{name: "33 bytes", setup: writeKey(validKey+"ff\n", 0o600), wantErr: "content"},
		{name: "empty", setup: writeKey("", 0o600), create: true, wantErr: "content"},
		{name: "a directory", setup: func(t *testing.T, _, file string) { mkdir(t, file, 0o700) }, create: true, wantErr: "perm", errPath: "file", hint: "remove "},
		{name: "symlink followed", setup: func(t *testing.T, dir, file string) {
			writeKey(validKey, 0o600)(t, dir, file+".real")
			must(t, os.Symlink(file+".real", file))
		}, key: want},
		{name: "owned by another user", setup: func(t *testing.T, dir, file string) {
			writeKey(validKey, 0o600)(t, dir, file)
			chown(t, file, 54321)
		}, wantErr: "perm", errPath: "file", hint: "remove "},
		{name: "directory 0777, create true", setup: func(t *testing.T, dir, _ string) { mkdir(t, dir, 0o777) }, create: true, wantErr: "perm", errPath: "dir", hint: "chmod 700 "},
		{name: "directory 0777, existing key", setup: func(t *testing.T, dir, file string) {
			writeKey(validKey, 0o600)(t, dir, file)
			must(t, os.Chmod(dir, 0o777))
		}, key: want},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "config", "graphmail")
			file := filepath.Join(dir, "token-cache.key")
			tc.setup(t, dir, file)
			before, _ := os.ReadFile(file)
			key, err := LoadKey(file, tc.create)
			switch tc.wantErr {
			case "":
				if err != nil {
					t.Fatalf("LoadKey: %v", err)
				}
				if tc.key != nil && !bytes.Equal(key, tc.key) {
					t.Errorf("key = %x, want %x", key, tc.key)
				}
				if tc.key == nil {
					checkNewKeyFile(t, dir, file, key)
				}
				return
			case "notexist":
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("err = %v, want fs.ErrNotExist", err)
				}
				if _, err := os.Lstat(file); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("LoadKey without create made the file: %v", err)
				}
			case "perm":
				var pe *PermissionError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v (%T), want *PermissionError", err, err)
				}
				if wantPath := map[string]string{"dir": dir, "file": file}[tc.errPath]; pe.Path != wantPath {
					t.Errorf("Path = %s, want %s", pe.Path, wantPath)
				}
				if !strings.HasPrefix(pe.Hint(), tc.hint) {
					t.Errorf("Hint() = %q, want it to start with %q", pe.Hint(), tc.hint)
				}
				if strings.HasPrefix(tc.hint, "chmod 600") && !strings.Contains(pe.Problem, "accessible by group or others") {
					t.Errorf("Problem = %q", pe.Problem)
				}
			case "content":
				if err == nil || !strings.Contains(err.Error(), "does not hold a 32-byte hex key") {
					t.Fatalf("err = %v, want a bad key error", err)
				}
				var pe *PermissionError
				if errors.As(err, &pe) || errors.Is(err, fs.ErrNotExist) {
					t.Errorf("err = %v (%T), want neither a PermissionError nor ErrNotExist", err, err)
				}
			}
			if key != nil {
				t.Errorf("key = %x on error", key)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "tokencache: ") {
				t.Errorf("err = %q, want the package prefix", err)
			}
			if c := strings.TrimSpace(string(before)); len(c) > 4 && strings.Contains(err.Error(), c[4:]) {
				t.Errorf("err = %q quotes the key file", err)
			}
			if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
				t.Errorf("the key file changed from %q to %q", before, after)
			}
		})
	}
}

func writeKey(content string, mode fs.FileMode) func(*testing.T, string, string) {
	return func(t *testing.T, dir, file string) {
		t.Helper()
		must(t, os.MkdirAll(dir, 0o700))
		must(t, os.WriteFile(file, []byte(content), mode))
		must(t, os.Chmod(file, mode))
	}
}

// checkNewKeyFile checks a key file LoadKey created: mode 0600 in a 0700
// directory, the key in hex and a newline, no temporary file left.
func checkNewKeyFile(t *testing.T, dir, file string, key []byte) {
	t.Helper()
	if len(key) != KeySize || bytes.Equal(key, make([]byte, KeySize)) {
		t.Errorf("key = %x, want %d random bytes", key, KeySize)
	}
	checkMode(t, file, 0o600, true)
	checkMode(t, dir, 0o700|fs.ModeDir, true)
	b, err := os.ReadFile(file)
	must(t, err)
	if string(b) != hex.EncodeToString(key)+"\n" {
		t.Errorf("file holds %q, want the key in hex and a newline", b)
	}
	entries, err := os.ReadDir(dir)
	must(t, err)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file", len(entries))
	}
	again, err := LoadKey(file, false)
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("reading the new file: %x, %v", again, err)
	}
}

// All racing creators end up with the one key that was written.
func TestLoadKeyConcurrentCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "graphmail")
	file := filepath.Join(dir, "token-cache.key")
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			keys[i], errs[i] = LoadKey(file, true)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadKey %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("LoadKey %d returned another key than LoadKey 0", i)
		}
	}
	checkNewKeyFile(t, dir, file, keys[0])
}

func TestCreateKey(t *testing.T) {
	noLinks := func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	want, _ := hex.DecodeString(validKey)
	tests := []struct {
		name     string
		link     func(string, string) error
		existing bool // another process created the file first
	}{
		{"hard link", os.Link, false},
		{"hard link, lost the race", os.Link, true},
		{"no hard links", noLinks, false},
		{"no hard links, lost the race", noLinks, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "graphmail")
			file := filepath.Join(dir, "token-cache.key")
			if tc.existing {
				writeKey(validKey+"\n", 0o600)(t, dir, file)
			}
			key, err := createKey(file, tc.link)
			if err != nil {
				t.Fatal(err)
			}
			if tc.existing {
				if !bytes.Equal(key, want) {
					t.Errorf("key = %x, want the other process's %x", key, want)
				}
				entries, _ := os.ReadDir(dir)
				if len(entries) != 1 {
					t.Errorf("directory holds %d entries, want only the key file", len(entries))
				}
				return
			}
			checkNewKeyFile(t, dir, file, key)
		})
	}
}
