// Package tokencache persists MSAL Go's token cache in an encrypted file
// that many processes can share, so that graphmail run once per message
// (from cron, say) fetches a token once an hour rather than once per run.
//
// A [Cache] implements MSAL's cache.ExportReplace; pass it to
// confidential.WithCache. MSAL calls Replace before every cache lookup and
// Export after every new token.
//
// # Encryption
//
// The file is never plain text. It holds the magic "GMTC", a version byte,
// a 32-byte random salt and a 12-byte random nonce (both new on every
// write), then MSAL's serialized cache sealed with AES-256-GCM, the header
// bytes serving as additional data. The key is HKDF-SHA256 of the client
// credential (the secret, or the certificate's private key as PKCS #8 DER),
// with the file's salt, and info "graphmail token cache v1\x00" + tenant +
// "\x00" + client. A copied file is useless without the credential; a file
// written with another credential (a rotated secret), another tenant or
// client, a tampered or truncated file and a file that is not a token cache
// are all ignored with one warning, as if the cache were empty, and
// overwritten by the next Export.
//
// # Concurrency
//
// A lock file beside the cache (Path + ".lock") is locked with flock(2):
// shared by Replace, exclusive by Export. Export writes a temporary file in
// the same directory (mode 0600), syncs it, renames it over the cache and
// syncs the directory, so no reader ever sees a partial file and a writer
// that dies leaves the old file intact; the kernel drops a dead process's
// lock.
//
// MSAL's Export hands over the whole in-memory cache, so plain
// last-writer-wins could drop a token another process stored in the
// meantime (for the other scope, say). On a cache miss MSAL calls Replace,
// adds the new token and calls Export, without network I/O in between; but
// the lock cannot be held from that Replace to Export, because the same
// Replace call starts every lookup and most lookups end without an Export.
// Instead Export, under the exclusive lock, re-reads the file and merges
// it with MSAL's data entry by entry, three-way, against what this process
// last loaded: entries this process changed win, everything else is taken
// from the file. If MSAL's data is ever not shaped as expected, Export falls
// back to last writer wins. Access tokens already expired are dropped from
// the file; MSAL itself never serves a token within five minutes of expiry.
//
// # Failures
//
// A cache problem never fails a send: when the lock stays busy longer than
// Options.LockTimeout, or the file cannot be read, decrypted or written,
// Replace and Export log a warning and return nil, and MSAL goes to the
// network. They return an error only when their context ends while they
// wait for the lock, as MSAL's contract asks. Warnings name the file and
// the reason, never a token or the credential.
//
// # Permissions
//
// [New] creates the directory with mode 0700 and the file is written with
// mode 0600. New refuses, with a *[PermissionError] whose Hint says what to
// run, a directory that group or others can write or that belongs to
// another user (root excepted), and a file that group or others can access,
// that is not a regular file or that belongs to another user. It does not
// repair permissions itself.
//
// # Key file and refresh state
//
// A public client (a user's delegated sign-in) has no credential to derive
// the key from. [LoadKey] reads, or creates on first use, a key file of 32
// random bytes in hex, to be kept outside the cache directory so that a
// copy of that directory alone cannot be decrypted. It applies the checks
// above to the key file (mode 0600, owned by the user) and, when it creates
// the file, to its directory; it never replaces an existing key.
//
// Beside such a cache, a small JSON file ([StatePath]) records who signed
// in and when the refresh token was last used ([RefreshState]); it holds no
// token. [WriteRefreshState] replaces it atomically like the cache.
//
// # Platforms
//
// Locking uses flock(2) on Linux, macOS and the BSDs. Elsewhere (Windows)
// the package builds, the lock is a no-op and permission bits are not
// checked: files are still replaced atomically, but concurrent writers may
// drop each other's tokens, which costs a token request, never a send.
package tokencache
