package auth

import (
	"context"
	"crypto/sha1" // #nosec G505 -- the certificate thumbprint the portal shows is SHA-1
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// CredentialFiles names the files a Provider reads its client credentials
// from: client secrets or certificates (not both), one file each, tried in
// order. Two files are the overlap window of a rotation: the new
// credential is added on the app registration and dropped next to the old
// one, and the old one is removed later. The Provider reads the files again
// when they change (see Provider.ReloadCredentials) and when the authority
// refuses every credential it holds.
type CredentialFiles struct {
	// Secrets are files that each hold one client secret's value (white
	// space around it ignored).
	Secrets []string
	// Certificates are PEM (certificate and unencrypted key) or PKCS#12
	// files; see LoadCertificate.
	Certificates []string
	// CertificatePassword decrypts PKCS#12 files.
	CertificatePassword string
}

// String describes the files without the certificate password.
func (f CredentialFiles) String() string {
	return fmt.Sprintf("auth.CredentialFiles{Secrets: %q, Certificates: %q}", f.Secrets, f.Certificates)
}

// GoString implements fmt.GoStringer without the certificate password.
func (f CredentialFiles) GoString() string { return f.String() }

// LogValue implements slog.LogValuer without the certificate password.
func (f CredentialFiles) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("secrets", f.Secrets), slog.Any("certificates", f.Certificates))
}

// paths returns every file, secrets first.
func (f *CredentialFiles) paths() []string {
	return append(slices.Clone(f.Secrets), f.Certificates...)
}

// CredentialFileError is a credential file that cannot be used: missing,
// unreadable, empty, or not a certificate with its key. It never holds the
// file's content.
type CredentialFileError struct {
	// Path is the file.
	Path string
	// Problem says what is wrong with it.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *CredentialFileError) Error() string {
	return "auth: credential file " + e.Path + ": " + e.Problem
}

// Unwrap returns the underlying error.
func (e *CredentialFileError) Unwrap() error { return e.Err }

// load reads every file.
func (f *CredentialFiles) load(secretExpires time.Time) ([]clientCred, error) {
	if len(f.Secrets) > 0 && len(f.Certificates) > 0 {
		return nil, errors.New("auth: credential files: set secrets or certificates, not both")
	}
	var out []clientCred
	for i, path := range f.Secrets {
		data, err := os.ReadFile(path)
		if err != nil {
			problem := "cannot be read"
			if errors.Is(err, fs.ErrNotExist) {
				problem = "does not exist"
			}
			return nil, &CredentialFileError{Path: path, Problem: problem, Err: err}
		}
		secret := strings.TrimSpace(string(data))
		if secret == "" {
			return nil, &CredentialFileError{Path: path, Problem: "is empty"}
		}
		c := clientCred{file: path, secret: secret}
		if i == 0 {
			c.expires = secretExpires
		}
		out = append(out, c)
	}
	for _, path := range f.Certificates {
		cert, err := LoadCertificate(path, f.CertificatePassword)
		if err != nil {
			return nil, &CredentialFileError{Path: path, Problem: strings.TrimPrefix(err.Error(), "auth: "), Err: err}
		}
		out = append(out, clientCred{file: path, cert: cert, expires: cert.Chain[0].NotAfter})
	}
	if len(out) == 0 {
		return nil, errors.New("auth: credential files: no file named")
	}
	return out, nil
}

// clientCred is one client credential the Provider holds: a secret or a
// certificate. It is never printed.
type clientCred struct {
	file    string // "" when given directly (Options.ClientSecret, Options.Certificate)
	secret  string
	cert    *Certificate
	expires time.Time // zero: unknown
}

// String hides the credential: only its kind and file show.
func (c clientCred) String() string {
	if c.cert == nil && c.secret == "" {
		return "federated token"
	}
	return fmt.Sprintf("%s(%s)", c.kind(), c.id())
}

// GoString implements fmt.GoStringer without the secret.
func (c clientCred) GoString() string { return c.String() }

func (c clientCred) kind() CredentialKind {
	if c.cert != nil {
		return KindCertificate
	}
	return KindSecret
}

// id is the certificate's thumbprint, or the secret file's name (never a
// part of the secret).
func (c clientCred) id() string {
	if c.cert != nil {
		return Thumbprint(c.cert.Chain[0])
	}
	if c.file != "" {
		return filepath.Base(c.file)
	}
	return "client_secret"
}

// fingerprint tells credentials apart without keeping their value.
func (c clientCred) fingerprint() [32]byte {
	if c.cert != nil {
		key, _ := x509.MarshalPKCS8PrivateKey(c.cert.Key)
		return sha256.Sum256(append(slices.Clone(c.cert.Chain[0].Raw), key...))
	}
	return sha256.Sum256([]byte("secret\x00" + c.secret))
}

// cacheKey is the key material of the credential's persistent cache: the
// secret, or the certificate's private key as PKCS #8 DER.
func (c clientCred) cacheKey() []byte {
	if c.cert != nil {
		der, err := x509.MarshalPKCS8PrivateKey(c.cert.Key)
		if err != nil {
			return nil
		}
		return der
	}
	return []byte(c.secret)
}

// Thumbprint returns a certificate's SHA-1 thumbprint in upper-case hex, as
// the portal's Certificates & secrets page shows it.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) // #nosec G401 -- an identifier, not a signature
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// slot is one credential with its MSAL client.
type slot struct {
	cred   clientCred
	fp     [32]byte
	client confidential.Client
	store  cache.ExportReplace // nil: MSAL's memory alone
}

// acquireLocker is a persistent token cache shared between processes that
// can let one process at a time ask for a token it does not hold
// (tokencache.Cache.LockForAcquire).
type acquireLocker interface {
	LockForAcquire(ctx context.Context, scope string) (unlock func())
}

// fileStamp is what a poll compares to notice a changed file cheaply.
type fileStamp struct {
	mod  time.Time
	size int64
	err  bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{err: true}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

// newSlot builds the MSAL client for one credential; index is its place
// in the list (its persistent cache, through Options.CacheFor, may
// depend on it).
func (p *Provider) newSlot(c clientCred, index int) (*slot, error) {
	var cred confidential.Credential
	var err error
	switch {
	case c.cert != nil:
		cred, err = confidential.NewCredFromCert(c.cert.Chain, c.cert.Key)
	default:
		cred, err = confidential.NewCredFromSecret(c.secret)
	}
	if err != nil {
		// MSAL's messages about credentials never contain the secret itself.
		return nil, fmt.Errorf("auth: invalid credential: %w", err)
	}
	var store cache.ExportReplace
	switch {
	case p.cacheFor != nil:
		if key := c.cacheKey(); key != nil {
			store = p.cacheFor(key, index)
		}
	case index == 0:
		store = p.cache
	}
	client, err := p.newConfidential(cred, store)
	if err != nil {
		return nil, err
	}
	return &slot{cred: c, fp: c.fingerprint(), client: client, store: store}, nil
}

// newConfidential creates an MSAL confidential client for the provider's
// authority with cred.
func (p *Provider) newConfidential(cred confidential.Credential, store cache.ExportReplace) (confidential.Client, error) {
	copts := []confidential.Option{confidential.WithInstanceDiscovery(p.instanceDiscovery)}
	if p.httpClient != nil {
		copts = append(copts, confidential.WithHTTPClient(p.httpClient))
	}
	if store != nil {
		copts = append(copts, confidential.WithCache(store))
	}
	c, err := confidential.New(p.authority, p.clientID, cred, copts...)
	if err != nil {
		return confidential.Client{}, fmt.Errorf("auth: creating the MSAL client: %w", err)
	}
	return c, nil
}

// slotsSnapshot returns the slots and the index of the one to try first.
func (p *Provider) slotsSnapshot() ([]*slot, int) {
	p.cmu.Lock()
	defer p.cmu.Unlock()
	return p.slots, p.active
}

// refused reports whether the authority refused the credential itself (a
// wrong, revoked or expired secret, an unregistered or expired
// certificate): then another credential, or the file read again, may work.
func refused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "AADSTS7000215", "AADSTS7000222", "AADSTS700027":
		return true
	}
	return e.Code == "" && e.OAuthError == "invalid_client"
}

// acquireConfidential asks the credentials in turn, starting with the
// one that worked last: when the authority refuses a credential, the next
// one is tried, and when it refuses them all, the credential files are
// read again once (a rotation the poll has not noticed yet).
func (p *Provider) acquireConfidential(ctx context.Context, scope string, opts []confidential.AcquireByCredentialOption) (Token, error) {
	reloaded := false
	for {
		slots, start := p.slotsSnapshot()
		var firstErr error
		for i := range slots {
			s := slots[(start+i)%len(slots)]
			unlock := func() {}
			if l, ok := s.store.(acquireLocker); ok && len(opts) == 0 {
				// Processes sharing the cache file ask one at a time;
				// MSAL reads the file first, so the later ones find
				// the token the first one got.
				unlock = l.LockForAcquire(ctx, scope)
			}
			res, err := s.client.AcquireTokenByCredential(ctx, []string{scope}, opts...)
			unlock()
			if err == nil {
				p.setActive(s)
				t := tokenFrom(res)
				p.log.Debug("token acquired", "scope", scope, "credential", s.cred.String(), "from_cache", t.FromCache, "expires_on", t.ExpiresOn)
				return t, nil
			}
			err = wrapMethod(p.method, scope, err)
			p.log.Debug("token request failed", "scope", scope, "method", p.method, "credential", s.cred.String(), "error", err)
			if !refused(err) {
				return Token{}, err
			}
			if len(slots) > 1 {
				var e *Error
				errors.As(err, &e)
				p.log.Warn("the identity platform refused a client credential", "kind", string(s.cred.kind()), "id", s.cred.id(), "code", e.Code)
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if reloaded || !p.hasFiles {
			return Token{}, firstErr
		}
		reloaded = true
		if changed, err := p.ReloadCredentials(true); err != nil || !changed {
			return Token{}, firstErr
		}
	}
}

// setActive makes s the credential tried first.
func (p *Provider) setActive(s *slot) {
	p.cmu.Lock()
	defer p.cmu.Unlock()
	if i := slices.Index(p.slots, s); i >= 0 && i != p.active {
		p.active = i
		if len(p.slots) > 1 {
			p.log.Info("using another client credential", "kind", string(s.cred.kind()), "id", s.cred.id())
		}
	}
}

// ReloadCredentials reads the credential files (Options.Files) again and,
// when what they hold changed, switches to the new credentials: the next
// token request uses them, and a channel from CredentialChanged is closed.
// Without force, files whose modification time and size are unchanged
// since the last read are not read (a cheap poll). A file that cannot be
// read or parsed keeps the running credentials and returns the error. It
// returns false and nil for a provider without credential files.
func (p *Provider) ReloadCredentials(force bool) (changed bool, err error) {
	if !p.hasFiles {
		return false, nil
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	paths := p.files.paths()
	stamps := make([]fileStamp, len(paths))
	for i, path := range paths {
		stamps[i] = stampOf(path)
	}
	if !force && slices.Equal(stamps, p.stamps) {
		return false, nil
	}
	creds, err := p.files.load(p.secretExpires)
	if err != nil {
		// A file in the middle of being replaced, or removed: keep the
		// running credentials; the stamps stay old so the next poll looks
		// again.
		return false, err
	}
	p.stamps = stamps
	old, _ := p.slotsSnapshot()
	same := len(old) == len(creds)
	for i := 0; same && i < len(creds); i++ {
		same = old[i].fp == creds[i].fingerprint()
	}
	if same {
		// The same credentials; a new configured expiry still counts.
		fresh := make([]*slot, len(old))
		for i, s := range old {
			fresh[i] = &slot{cred: creds[i], fp: s.fp, client: s.client}
		}
		p.cmu.Lock()
		p.slots = fresh
		p.cmu.Unlock()
		return false, nil
	}
	slots := make([]*slot, len(creds))
	for i, c := range creds {
		// An unchanged credential keeps its client and its cached tokens.
		if j := slices.IndexFunc(old, func(s *slot) bool { return s.fp == c.fingerprint() }); j >= 0 {
			slots[i] = old[j]
			continue
		}
		if slots[i], err = p.newSlot(c, i); err != nil {
			return false, err
		}
	}
	p.cmu.Lock()
	p.slots, p.active = slots, 0
	close(p.changed)
	p.changed = make(chan struct{})
	p.cmu.Unlock()
	p.forget()
	ids := make([]string, len(slots))
	for i, s := range slots {
		ids[i] = s.cred.id()
	}
	p.log.Info("client credential changed; the next token request uses it", "kind", string(slots[0].cred.kind()), "ids", strings.Join(ids, ","))
	return true, nil
}

// SetCredentialFiles replaces the files the provider reads its
// credentials from (a reloaded configuration listing a second file, or
// another one) and the first secret's expiry, then reads them as
// ReloadCredentials(true) does. The kind must stay the same: secret files
// for a provider built with secrets, certificate files for one built with
// certificates. When the files cannot be used, the running credentials and
// files stay.
func (p *Provider) SetCredentialFiles(files CredentialFiles, secretExpires time.Time) (changed bool, err error) {
	if !p.hasFiles {
		return false, errors.New("auth: the provider does not read its credential from files")
	}
	if (p.method == MethodSecret) != (len(files.Secrets) > 0) || len(files.paths()) == 0 ||
		(len(files.Secrets) > 0 && len(files.Certificates) > 0) {
		return false, fmt.Errorf("auth: the credential method is %s; changing it needs a restart", p.method)
	}
	p.rmu.Lock()
	oldFiles, oldExpires := p.files, p.secretExpires
	p.files, p.secretExpires, p.stamps = &files, secretExpires, nil
	p.rmu.Unlock()
	changed, err = p.ReloadCredentials(true)
	if err != nil {
		p.rmu.Lock()
		p.files, p.secretExpires, p.stamps = oldFiles, oldExpires, nil
		p.rmu.Unlock()
	}
	return changed, err
}

// CredentialChanged returns a channel that is closed when the provider
// next switches to changed credentials (ReloadCredentials, or a refused
// credential that made it read the files again). Take a new channel after
// each change.
func (p *Provider) CredentialChanged() <-chan struct{} {
	p.cmu.Lock()
	defer p.cmu.Unlock()
	return p.changed
}

// WatchesFiles reports whether the provider reads its credentials from
// files it can read again (Options.Files).
func (p *Provider) WatchesFiles() bool { return p.hasFiles }
