package relay

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2id parameters HashPassword uses (RFC 9106's second recommended
// option: 64 MiB, 3 passes, 4 lanes).
const (
	argonMemory  = 64 * 1024
	argonTime    = 3
	argonThreads = 4
	argonKeyLen  = 32
)

// HashPassword returns an argon2id PHC string for password, suitable for
// Account.PasswordHash.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// hash is a parsed password hash.
type hash interface {
	verify(password string) bool
}

type bcryptHash []byte

func (h bcryptHash) verify(password string) bool {
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

type argonHash struct {
	memory    uint32
	time      uint32
	threads   uint8
	salt, key []byte
}

func (h argonHash) verify(password string) bool {
	got := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// parseHash reads a bcrypt hash or an argon2id PHC string.
func parseHash(s string) (hash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return nil, fmt.Errorf("bcrypt hash: %v", err)
		}
		return bcryptHash(s), nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case s == "":
		return nil, errors.New("is empty")
	}
	return nil, errors.New("is neither bcrypt ($2b$…) nor argon2id ($argon2id$…)")
}

func parseArgon2id(s string) (hash, error) {
	parts := strings.Split(s, "$") // "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 {
		return nil, errors.New("argon2id hash: want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return nil, fmt.Errorf("argon2id hash: unsupported version %q", parts[2])
	}
	var h argonHash
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return nil, fmt.Errorf("argon2id hash: parameters %q: %v", parts[3], err)
	}
	if h.memory == 0 || h.time == 0 || h.threads == 0 || h.memory > 4<<20 {
		return nil, fmt.Errorf("argon2id hash: parameters %q out of range", parts[3])
	}
	var err error
	b64 := base64.RawStdEncoding
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, errors.New("argon2id hash: bad salt")
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 {
		return nil, errors.New("argon2id hash: bad hash")
	}
	return h, nil
}

// bcryptAlphabet is bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// dummyFor returns the hash an unknown user name is checked against, so
// that it costs what a known one costs and user names cannot be told
// apart by time: the argon2id parameters of the first account (by name)
// with an argon2id hash, else the bcrypt cost of the first account, else
// HashPassword's parameters. Salt and key are random, so it matches no
// password; nothing is hashed to make it.
func dummyFor(hashes map[string]hash) hash {
	users := make([]string, 0, len(hashes))
	for u := range hashes {
		users = append(users, u)
	}
	slices.Sort(users)
	var cost int
	for _, u := range users {
		switch h := hashes[u].(type) {
		case argonHash:
			return argonHash{memory: h.memory, time: h.time, threads: h.threads, salt: random(len(h.salt)), key: random(len(h.key))}
		case bcryptHash:
			if cost == 0 {
				cost, _ = bcrypt.Cost(h)
			}
		}
	}
	if cost > 0 {
		enc := base64.NewEncoding(bcryptAlphabet).WithPadding(base64.NoPadding)
		// 16 bytes of salt and 23 of hash, as bcrypt writes them.
		return bcryptHash(fmt.Sprintf("$2a$%02d$%s%s", cost, enc.EncodeToString(random(16)), enc.EncodeToString(random(23))))
	}
	return argonHash{memory: argonMemory, time: argonTime, threads: argonThreads, salt: random(16), key: random(argonKeyLen)}
}

// random returns n random bytes.
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}
