package tokencache

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// File format, version 1:
//
//	offset  size  field
//	0       4     magic "GMTC"
//	4       1     version (1)
//	5       32    salt   (random, new on every write)
//	37      12    nonce  (random, new on every write)
//	49      n+16  AES-256-GCM ciphertext of MSAL's serialized cache, with tag
//
// The 49 header bytes are GCM's additional data, so flipping any bit of the
// header makes the file fail authentication just like a flipped ciphertext
// bit. The key is HKDF-SHA256(ikm = credential, salt, info =
// "graphmail token cache v1\x00" + tenant + "\x00" + client).
const (
	magic      = "GMTC"
	version1   = 1
	saltSize   = 32
	nonceSize  = 12
	headerSize = len(magic) + 1 + saltSize + nonceSize
	tagSize    = 16
	keySize    = 32
	infoPrefix = "graphmail token cache v1\x00"
)

// Reasons a file cannot be opened. They never carry file contents.
var (
	errForeign   = errors.New("not a graphmail token cache (unknown magic)")
	errVersion   = errors.New("unsupported token cache version")
	errTruncated = errors.New("token cache file is truncated")
	errDecrypt   = errors.New("token cache cannot be decrypted (tampered, or written with another credential)")
)

// sealer encrypts and decrypts cache files for one credential, tenant and
// client. It holds the credential, so it must never be printed.
type sealer struct {
	ikm  []byte
	info string
}

func newSealer(credential []byte, tenantID, clientID string) *sealer {
	return &sealer{
		ikm:  bytes.Clone(credential),
		info: infoPrefix + tenantID + "\x00" + clientID,
	}
}

func (s *sealer) aead(salt []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, s.ikm, salt, s.info, keySize)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns a complete file holding plaintext under a fresh salt and
// nonce.
func (s *sealer) seal(plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	copy(out, magic)
	out[len(magic)] = version1
	salt := out[len(magic)+1 : len(magic)+1+saltSize]
	nonce := out[len(magic)+1+saltSize : headerSize]
	if _, err := rand.Read(out[len(magic)+1 : headerSize]); err != nil {
		return nil, fmt.Errorf("random salt and nonce: %w", err)
	}
	aead, err := s.aead(salt)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, out[:headerSize]), nil
}

// open authenticates and decrypts a complete file. Errors are one of
// errForeign, errVersion, errTruncated and errDecrypt.
func (s *sealer) open(file []byte) ([]byte, error) {
	if len(file) < len(magic) || string(file[:len(magic)]) != magic {
		if len(file) < len(magic) && bytes.HasPrefix([]byte(magic), file) {
			return nil, errTruncated
		}
		return nil, errForeign
	}
	if len(file) < len(magic)+1 {
		return nil, errTruncated
	}
	if file[len(magic)] != version1 {
		return nil, errVersion
	}
	if len(file) < headerSize+tagSize {
		return nil, errTruncated
	}
	salt := file[len(magic)+1 : len(magic)+1+saltSize]
	nonce := file[len(magic)+1+saltSize : headerSize]
	aead, err := s.aead(salt)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nonce, file[headerSize:], file[:headerSize])
	if err != nil {
		return nil, errDecrypt
	}
	return plain, nil
}
