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

// File format, version 2:
//
//	offset  size  field
//	0       4     magic "GMTC"
//	4       1     version (2)
//	5       8     key check: HKDF-SHA256(ikm = credential, no salt,
//	              info + "\x00check"), which tells a file written with
//	              another credential (a rotation, another identity)
//	              from a tampered one without revealing the credential
//	13      32    salt   (random, new on every write)
//	45      12    nonce  (random, new on every write)
//	57      n+16  AES-256-GCM ciphertext of MSAL's serialized cache, with tag
//
// The header bytes are GCM's additional data, so flipping any bit of the
// header makes the file fail authentication just like a flipped ciphertext
// bit. The key is HKDF-SHA256(ikm = credential, salt, info =
// "graphmail token cache v1\x00" + tenant + "\x00" + client). Version 1
// (no key check) is still read; every write is version 2.
const (
	magic      = "GMTC"
	version1   = 1
	version2   = 2
	checkSize  = 8
	saltSize   = 32
	nonceSize  = 12
	header1    = len(magic) + 1 + saltSize + nonceSize
	headerSize = len(magic) + 1 + checkSize + saltSize + nonceSize
	tagSize    = 16
	keySize    = 32
	infoPrefix = "graphmail token cache v1\x00"
)

// Reasons a file cannot be opened. They never carry file contents.
var (
	errForeign   = errors.New("not a graphmail token cache (unknown magic)")
	errVersion   = errors.New("unsupported token cache version")
	errTruncated = errors.New("token cache file is truncated")
	errDecrypt   = errors.New("token cache cannot be decrypted (tampered)")
	// errOtherKey: written with another credential, tenant or client (a
	// rotation, or another identity sharing the path): normal, not a
	// warning.
	errOtherKey = errors.New("token cache was written with another credential or identity")
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

// check returns the key check of the file header.
func (s *sealer) check() ([]byte, error) {
	return hkdf.Key(sha256.New, s.ikm, nil, s.info+"\x00check", checkSize)
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
	out[len(magic)] = version2
	check, err := s.check()
	if err != nil {
		return nil, fmt.Errorf("derive key check: %w", err)
	}
	copy(out[len(magic)+1:], check)
	rnd := out[len(magic)+1+checkSize : headerSize]
	salt, nonce := rnd[:saltSize], rnd[saltSize:]
	if _, err := rand.Read(rnd); err != nil {
		return nil, fmt.Errorf("random salt and nonce: %w", err)
	}
	aead, err := s.aead(salt)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, out[:headerSize]), nil
}

// open authenticates and decrypts a complete file. Errors are one of
// errForeign, errVersion, errTruncated, errOtherKey and errDecrypt.
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
	hdr := header1
	switch file[len(magic)] {
	case version1:
	case version2:
		hdr = headerSize
	default:
		return nil, errVersion
	}
	if len(file) < hdr+tagSize {
		return nil, errTruncated
	}
	if hdr == headerSize {
		check, err := s.check()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(check, file[len(magic)+1:len(magic)+1+checkSize]) {
			return nil, errOtherKey
		}
	}
	salt := file[hdr-nonceSize-saltSize : hdr-nonceSize]
	nonce := file[hdr-nonceSize : hdr]
	aead, err := s.aead(salt)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nonce, file[hdr:], file[:hdr])
	if err != nil {
		if hdr == header1 {
			// Version 1 cannot tell another key from tampering: the
			// common case is a rotation.
			return nil, errOtherKey
		}
		return nil, errDecrypt
	}
	return plain, nil
}
