// Package daemon is graphmail's relay daemon without its command line: it
// accepts mail over SMTP (package relay), spools it durably (package
// spool), delivers it through the Graph client with the SMTP fallback
// (built by package setup), and serves /healthz, /readyz and /metrics.
//
// The daemon decides what a failed delivery means through the library's
// error taxonomy (graphmail.ClassOf): [Disposition] tells the spool to
// retry or dead-letter, and [SubmitReply] tells a relay client what a
// failed submission means, so every path decides alike.
//
// Lifecycle: [New] checks the configuration and opens the spool, [Daemon.Listen]
// binds the listeners, [Daemon.Run] serves until its context ends (then
// stops accepting, lets deliveries in flight finish and leaves the rest
// queued) and applies a new configuration on each value of its reload
// channel (SIGHUP in the CLI) without dropping connections.
//
// Credentials: the daemon polls the client credential files every
// Options.TokenWatchInterval and reads them at once on reload; when the
// credential changes (also after the identity platform refused the old
// one), the messages held by an authentication or configuration failure
// are retried at once. It warns once a day about a credential that expires
// within credential_warn_days and exposes
// graphmail_credential_expiry_timestamp_seconds.
package daemon
