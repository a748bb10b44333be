package tokencache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length in bytes of the key LoadKey creates and accepts.
const KeySize = 32

// LoadKey returns the key held in the key file at path: KeySize bytes,
// written as hex digits (surrounding white space is ignored). The key is
// meant as the Options.Credential of a cache whose client has no credential
// of its own (a public client signing in a user), so that a copy of the
// cache directory alone cannot be decrypted: keep the key file elsewhere.
//
// The file must be a regular file (a symbolic link to one is followed)
// owned by the current user, with no group or other permissions; otherwise
// LoadKey returns a *[PermissionError] whose Hint says what to do.
//
// When the file does not exist and create is false, the error satisfies
// errors.Is(err, fs.ErrNotExist). When create is true, LoadKey makes a new
// random key and writes it, hex encoded and followed by a newline, to a new
// file with mode 0600, creating missing directories with mode 0700 (the
// file's directory must then pass the checks New applies to the cache
// directory). The file is written and synced under a temporary name and
// then linked to path, which never replaces an existing file and never
// shows a partial one: when another process creates the file first,
// LoadKey returns that process's key. The directory is synced before
// LoadKey returns.
//
// Errors name the file but never contain the key or the file's content.
func LoadKey(path string, create bool) ([]byte, error) {
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return createKey(path, os.Link)
	}
	return key, err
}

// readKey reads and checks an existing key file.
func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokencache: reading the key file: %w", err)
	}
	if err := checkFileInfo(path, fi); err != nil {
		var pe *PermissionError
		if errors.As(err, &pe) && pe.fix == "" {
			pe.fix = "remove " + quote(path) + " and sign in again: a new key is created, and the tokens cached with the old one are lost"
		}
		return nil, err
	}
	b, err := readFile(path)
	if err == nil && b == nil { // removed since the Stat
		err = &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, fmt.Errorf("tokencache: reading the key file: %w", err)
	}
	// The decoding error is not wrapped: it quotes the offending byte.
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("tokencache: %s does not hold a %d-byte hex key", path, KeySize)
	}
	return key, nil
}

// createKey writes a new key file at path, or reads the one another
// process created first. link is os.Link; tests replace it to take the
// path for file systems without hard links.
func createKey(path string, link func(oldname, newname string) error) (key []byte, err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	if err := ensureDirFor(dir, "the key file's directory"); err != nil {
		return nil, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("tokencache: making a key: %w", err)
	}
	data := []byte(hex.EncodeToString(key) + "\n")

	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*") // CreateTemp uses mode 0600
	if err != nil {
		return nil, fmt.Errorf("tokencache: creating the key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeSynced(tmp, data); err != nil {
		return nil, fmt.Errorf("tokencache: writing the key file: %w", err)
	}
	switch err := link(tmp.Name(), path); {
	case errors.Is(err, fs.ErrExist):
		return readKey(path) // another process won the race
	case err != nil:
		// No hard links here (FAT, some network file systems): create the
		// file exclusively and write it in place. A process that loses
		// this race may find the file still empty and fail; it is rare
		// and the next attempt reads the complete file.
		return createKeyInPlace(path, data, key)
	}
	if err := os.Remove(tmp.Name()); err != nil {
		return nil, fmt.Errorf("tokencache: removing the key file's temporary copy: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("tokencache: syncing the key file's directory: %w", err)
	}
	return key, nil
}

// createKeyInPlace is createKey's fallback without hard links.
func createKeyInPlace(path string, data, key []byte) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return readKey(path) // another process won the race
	}
	if err != nil {
		return nil, fmt.Errorf("tokencache: creating the key file: %w", err)
	}
	if err := writeSynced(f, data); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("tokencache: writing the key file: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("tokencache: syncing the key file's directory: %w", err)
	}
	return key, nil
}

// writeSynced writes data to f, syncs and closes it.
func writeSynced(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
