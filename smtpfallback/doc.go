// Package smtpfallback submits a message to Exchange Online over SMTP AUTH
// with the XOAUTH2 mechanism, for the cases where Microsoft Graph cannot take
// it.
//
// # What goes in, what comes out
//
// [Client.Send] takes an [Envelope] (MAIL FROM and RCPT TO addresses) and the
// raw MIME bytes of the message, and returns a [Receipt] with the server's
// final reply, or a typed error. The package knows nothing about Graph, MSAL
// or configuration files: tokens come from a [TokenSource] that the caller
// supplies, bound to the scope https://outlook.office365.com/.default.
//
// Bcc is the caller's job: put every Bcc address in [Envelope.To] and remove
// the Bcc header from the MIME bytes before calling Send. A message whose
// lines are all at most 998 octets is sent exactly as given (bare LF line
// endings are turned into CRLF and leading dots are escaped on the wire,
// nothing else changes); longer lines are re-encoded, see below.
//
// # Long lines
//
// SMTP forbids lines over 998 octets (RFC 5321 §4.5.3.1.6), yet legacy
// devices behind a relay send 5,000-octet lines that Postfix and Exchange
// accept inbound. When any line of the message (header or body) is longer,
// Send re-encodes it first, the way an MTA downgrades a message, and sets
// [Receipt.Reencoded]. It walks the MIME tree (nested multiparts, and
// message/rfc822 parts as messages of their own) and changes only what holds
// a long line; boundaries and every other octet stay as they were:
//
//   - The body of a single-part message or of a leaf part with a long line:
//     with Content-Transfer-Encoding 7bit, 8bit, binary or none it becomes
//     quoted-printable (text/*; 8-bit text comes out 7-bit) or base64
//     (anything else), and the part's Content-Transfer-Encoding field is
//     replaced or added (with MIME-Version: 1.0 on a message that lacks it).
//     Base64 is re-wrapped at 76 characters. Quoted-printable gets soft line
//     breaks, never inside an =XX escape. Decoding the part gives the same
//     octets as before (with CRLF line breaks, as on the wire).
//   - A header line is folded before white space (RFC 5322 §2.2.3), so
//     unfolding gives back the field.
//   - A preamble or epilogue line, which MIME readers ignore, is split.
//
// Some messages cannot be re-encoded without changing what they say; Send
// then returns a [*LineLengthError] (BadMessage reports true, it is not
// temporary) before it dials: a header line with no white space to fold
// at, a long line in a part with an unknown Content-Transfer-Encoding, and
// any long line inside multipart/signed, whose signature re-encoding would
// break (a long line in the header of the message around it is still
// folded). Re-encoding does break a DKIM signature over the body; so does
// any MTA that downgrades the message.
//
// The work is one pass over the message and at most one re-encoded copy;
// a message without long lines costs one scan and no copy.
//
// # Recipients one by one
//
// By default a refused RCPT TO ends the transaction: Send returns the
// [*SMTPError] (Stage [StageRcpt], Recipient set) and nothing is sent. With
// [Envelope.Partial] set, each refusal is recorded in [Receipt.Rejected] as
// a [RecipientError] (temporary for 4xx, permanent for 5xx) and the message
// goes to the recipients the server accepted. If it accepted none, Send
// returns the first refusal, as without Partial, and Receipt.Rejected still
// lists them all. A 421 reply or a broken connection during RCPT TO ends
// the transaction either way.
//
// # The conversation
//
// A new connection is dialled through [Config.Dial], then (unless
// [Config.ImplicitTLS]) the client reads the greeting, says EHLO and requires
// STARTTLS: a server that does not offer it gets QUIT and the error
// [ErrSTARTTLSUnavailable] (wrapped in a [*TLSError]); the token is never sent
// over plain text. Certificates are always verified, against
// [Config.TLSConfig].RootCAs or the system roots.
//
// Authentication is "AUTH XOAUTH2" with no initial response; after the
// server's 334 prompt the client sends base64 of
//
//	user=<mailbox>\x01auth=Bearer <token>\x01\x01
//
// If the server answers with a second 334 carrying an error (Gmail style,
// base64 JSON), the client replies with an empty line so that the server
// finishes with 535.
//
// If AUTH fails with 535 the token may have been stale in a cache, so the
// client asks the TokenSource for a fresh one (forceRefresh=true) and tries
// once more, on a new connection if the server dropped the old one. If that
// fails too, the [*SMTPError] has FreshToken set. 535 5.7.139 (SMTP AUTH
// disabled for the tenant or mailbox) is not retried: a new token cannot fix
// it.
//
// # Connections
//
// A Client keeps a small pool of authenticated connections per mailbox and
// allows at most [Config.MaxConns] (default 3, Exchange Online's limit) at
// once; further Sends wait for a free connection or their context. A reused
// connection gets RSET first; if that fails it is dropped and a new one is
// dialled. Idle connections are closed after [Config.IdleTimeout] and by
// [Client.Close]. A connection that breaks, times out, is interrupted by a
// context or gets 421 is never reused.
//
// Note that go-smtp repeats EHLO after RSET (on the same, still
// authenticated, connection); RFC 5321 §4.1.4 makes a repeated EHLO act like
// RSET, which leaves the authentication in place.
//
// # Errors
//
//   - [*SMTPError]: the server said no (code, enhanced code, text, stage).
//     Temporary for 4xx. AuthFailure and AuthDisabled classify 535s.
//   - [*TLSError]: STARTTLS missing or refused, or the handshake or
//     certificate check failed. Permanent unless the server refused STARTTLS
//     with a 4xx reply.
//   - [*NetError]: dial, I/O, timeout or context cancellation. Always
//     temporary; errors.Is(err, context.Canceled) and friends work.
//   - [*TokenError]: the TokenSource failed; errors.As to the provider's own
//     error type still works.
//   - [*LineLengthError]: a line over 998 octets that cannot be re-encoded.
//     Permanent; BadMessage reports true.
//   - [ErrInvalidEnvelope], [ErrEmptyMessage], [ErrSMTPUTF8Unsupported],
//     [ErrClosed]: caller mistakes and lifecycle.
//
// [Temporary] reports whether any of these is worth retrying later. No error,
// log line or panic from this package contains the token or the SASL string.
package smtpfallback
