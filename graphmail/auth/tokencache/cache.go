package tokencache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// DefaultLockTimeout is how long Replace and Export wait for another process
// to release the cache lock when Options.LockTimeout is zero.
const DefaultLockTimeout = 10 * time.Second

// LockSuffix is appended to Options.Path to name the lock file beside the
// cache. The lock file is empty and is never removed.
const LockSuffix = ".lock"

// Options configure a Cache.
type Options struct {
	// Path is the cache file; required. Its directory is created with mode
	// 0700 if missing. Use one Path per tenant and client: a file written
	// for another one cannot be decrypted and is overwritten. See
	// DefaultPath.
	Path string
	// Credential is the key material: the client secret's bytes, or the
	// certificate's private key as PKCS #8 DER (x509.MarshalPKCS8PrivateKey).
	// It must stay the same between processes; when it changes (a rotated
	// secret) the old file cannot be decrypted and is replaced. Required.
	Credential []byte
	// TenantID and ClientID bind the key to one app in one tenant; required.
	TenantID, ClientID string
	// Logger receives warnings about files that are ignored (corrupt,
	// foreign, undecryptable) and locks that time out. Nil discards. No
	// secret, token or file content is ever logged.
	Logger *slog.Logger
	// LockTimeout bounds the wait for another process's lock; zero means
	// DefaultLockTimeout. When it passes, the operation goes on without the
	// persistent cache (Replace loads nothing, Export writes nothing) and a
	// warning is logged: a cache problem never fails a send.
	LockTimeout time.Duration
	// Now is the clock used to drop expired access tokens from the file;
	// nil means time.Now. Lock timeouts always use the real clock.
	Now func() time.Time
}

// String describes the options with the credential redacted.
func (o Options) String() string {
	return fmt.Sprintf("tokencache.Options{Path: %q, Credential: %s, TenantID: %q, ClientID: %q, LockTimeout: %v}",
		o.Path, redact(o.Credential), o.TenantID, o.ClientID, o.LockTimeout)
}

// GoString implements fmt.GoStringer with the credential redacted.
func (o Options) GoString() string { return o.String() }

// LogValue implements slog.LogValuer with the credential redacted.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(slog.String("path", o.Path), slog.String("credential", redact(o.Credential)),
		slog.String("tenant_id", o.TenantID), slog.String("client_id", o.ClientID), slog.Duration("lock_timeout", o.LockTimeout))
}

func redact(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	return "REDACTED"
}

// Cache is an encrypted, multi-process-safe MSAL cache.ExportReplace backed
// by one file. Pass it to confidential.WithCache. It is safe for concurrent
// use, but give each MSAL client its own Cache: Export's merge keeps track
// of what one client's in-memory cache was loaded from.
type Cache struct {
	path, lockPath string
	sealer         *sealer
	log            *slog.Logger
	lockTimeout    time.Duration
	now            func() time.Time

	mu     sync.Mutex      // serializes Replace and Export within the process
	base   []byte          // what MSAL's memory was last synchronized with (plaintext)
	warned map[string]bool // warnings already logged, by reason
}

var _ cache.ExportReplace = (*Cache)(nil)

// New checks the cache location and returns a Cache. It creates the
// directory (mode 0700) if needed, but not the file. It returns a
// *PermissionError if the directory is writable by group or others or is
// owned by another user (root excepted), or if the file exists and is
// accessible by group or others, is not a regular file or is owned by
// another user. New does not read the file.
func New(opts Options) (*Cache, error) {
	if opts.Path == "" {
		return nil, errors.New("tokencache: a cache path is required")
	}
	if len(opts.Credential) == 0 {
		return nil, errors.New("tokencache: a credential is required to derive the cache key")
	}
	if opts.TenantID == "" || opts.ClientID == "" {
		return nil, errors.New("tokencache: tenant id and client id are required")
	}
	path := filepath.Clean(opts.Path)
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	for _, p := range []string{path, path + LockSuffix} {
		if err := checkFile(p); err != nil {
			return nil, err
		}
	}
	c := &Cache{
		path:        path,
		lockPath:    path + LockSuffix,
		sealer:      newSealer(opts.Credential, opts.TenantID, opts.ClientID),
		log:         opts.Logger,
		lockTimeout: opts.LockTimeout,
		now:         opts.Now,
		warned:      map[string]bool{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.lockTimeout <= 0 {
		c.lockTimeout = DefaultLockTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Path returns the cache file's path.
func (c *Cache) Path() string { return c.path }

// String describes the cache without its key material.
func (c *Cache) String() string { return fmt.Sprintf("tokencache.Cache(%s)", c.path) }

// Replace loads the file into MSAL's in-memory cache u, under a shared lock.
// A missing file loads nothing. A corrupt, truncated, foreign or
// undecryptable file is ignored with a warning (once per Cache and reason)
// and leaves u as it is; the next Export overwrites it. Replace returns an
// error only when ctx ends while it waits for the lock (ctx.Err()); every
// other problem returns nil, so that the token is fetched from the network
// instead. ctx bounds the wait for the lock, and Options.LockTimeout bounds
// it when ctx has no deadline (MSAL may pass one without). The partition
// key is not used: the file holds one client's cache.
func (c *Cache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	plain, ok, err := c.load(ctx)
	if err != nil || !ok {
		return err
	}
	if err := u.Unmarshal(plain); err != nil {
		c.warnOnce("unmarshal", "token cache content not accepted by MSAL; ignoring it")
		return nil
	}
	c.base = plain
	return nil
}

// Export stores MSAL's in-memory cache m, encrypted, under an exclusive
// lock. It merges m with the file's current content, so that tokens another
// process stored since this one last loaded the file are kept (see the
// package documentation), and replaces the file atomically. Like Replace it
// returns an error only when ctx ends while waiting for the lock; a cache
// that cannot be written is logged and skipped.
func (c *Cache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	ours, err := m.Marshal()
	if err != nil {
		c.log.Warn("token cache: MSAL could not serialize its cache; not saving it", "path", c.path)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lk, err := c.lock(ctx, true)
	if err != nil || lk == nil {
		return err
	}
	defer lk.unlock()
	theirs, readable := c.read()
	merged, err := merge3(c.base, ours, theirs, c.now())
	if err != nil {
		merged = ours // not shaped as expected: last writer wins
	}
	if readable && theirs != nil && jsonEqual(merged, theirs) {
		c.base = ours
		return nil // nothing new
	}
	sealed, err := c.sealer.seal(merged)
	if err != nil {
		c.log.Warn("token cache: encrypting failed; not saving it", "path", c.path, "error", err)
		return nil
	}
	if err := writeAtomic(c.path, sealed); err != nil {
		c.log.Warn("token cache: writing failed; tokens are kept in memory only", "path", c.path, "error", err)
		return nil
	}
	c.base = ours
	return nil
}

// load takes the shared lock and reads and decrypts the file. ok is false
// when there is nothing usable; err is non-nil only when ctx ended.
func (c *Cache) load(ctx context.Context) (plain []byte, ok bool, err error) {
	lk, err := c.lock(ctx, false)
	if err != nil || lk == nil {
		return nil, false, err
	}
	defer lk.unlock()
	plain, readable := c.read()
	return plain, readable && plain != nil, nil
}

// lock takes the file lock. A nil lock with a nil error means "go on
// without the cache" (the reason has been logged).
func (c *Cache) lock(ctx context.Context, exclusive bool) (*fileLock, error) {
	lk, err := acquireLock(ctx, c.lockPath, exclusive, c.lockTimeout)
	switch {
	case err == nil:
		return lk, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, errLockTimeout):
		c.log.Warn("token cache: lock busy; going on without the cache", "path", c.lockPath, "timeout", c.lockTimeout)
	default:
		c.log.Warn("token cache: cannot lock; going on without the cache", "path", c.lockPath, "error", err)
	}
	return nil, nil
}

// read returns the decrypted file. readable is false when the file exists
// but is unusable (a warning has been logged); a missing file is readable
// and empty.
func (c *Cache) read() (plain []byte, readable bool) {
	file, err := readFile(c.path)
	if err != nil {
		c.warnOnce("read", "token cache unreadable; ignoring it", "error", err)
		return nil, false
	}
	if file == nil {
		return nil, true
	}
	plain, err = c.sealer.open(file)
	if errors.Is(err, errOtherKey) {
		// A rotated secret or certificate, or another identity using
		// the same file: nothing is wrong; the next write replaces it.
		if !c.warned["other"] {
			c.warned["other"] = true
			c.log.Info("token cache: written with another credential or identity; it will be replaced", "path", c.path)
		}
		return nil, false
	}
	if err != nil {
		c.warnOnce(err.Error(), "token cache ignored; it will be rewritten", "reason", err.Error())
		return nil, false
	}
	return plain, true
}

func (c *Cache) warnOnce(reason, msg string, args ...any) {
	if c.warned[reason] {
		return
	}
	c.warned[reason] = true
	c.log.Warn("token cache: "+msg, append([]any{"path", c.path}, args...)...)
}
