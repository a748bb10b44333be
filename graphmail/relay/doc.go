// Package relay is graphmail's SMTP submission listener for applications
// that only speak SMTP: printers, ERPs, monitoring, scripts. It accepts a
// message from an allowed client and hands it, byte for byte with its full
// envelope, to Options.Submit — normally spool.EnqueueFrom — and answers
// 250 only when Submit has returned, that is once the message is on disk.
// Only the header section (up to 1 MiB, where the sender fields are
// checked) is held in memory; the rest streams to Submit as it arrives.
//
// # Who may submit
//
// A client may submit if its IP is in Options.AllowNets, or after AUTH
// PLAIN or LOGIN as one of Options.Accounts (passwords stored as bcrypt or
// argon2id hashes; see HashPassword). AUTH is offered only over TLS
// (STARTTLS or the implicit-TLS listener), except to loopback clients.
// Anyone else gets 530 5.7.0 at MAIL: the server is never an open relay.
//
// An account may send only as the addresses and @domains in its
// AllowedFrom, checked in MAIL FROM and in every From, Sender, Resent-From
// and Resent-Sender header field; clients in AllowNets are limited by
// AllowedFromAnonymous when it is set. Anything else gets 550 5.7.1. The
// header is read with the parser the spool and delivery use, and a header
// that readers may disagree on — two From or two Sender fields, a bare CR
// or NUL, white space before the colon of a sender field — gets 554 5.6.0
// (ErrAmbiguousHeader), so no other reading can slip past the check.
//
// # Limits
//
// MaxMessageBytes (announced as SIZE in EHLO; 552 beyond), MaxRecipients
// (452 beyond), MaxConnections, MaxConnsPerClient and ConnsPerMinute (421
// 4.7.0 at connect), MessagesPerMinute (450 at MAIL), and a delay before
// each failed AUTH reply that doubles with every failure from the same IP.
//
// Time and commands per connection follow Postfix's smtpd. CommandTimeout
// (smtpd_timeout, 5 minutes) bounds the wait for each command line and
// for each read of a message (421 4.4.2 and close); commands that do
// nothing do not extend it. A message may take CommandTimeout plus one
// second per KiB received (smtpd_min_data_rate), so a steady slow client
// finishes and one that trickles bytes is cut (421 4.4.2). After 20
// refused commands (smtpd_hard_error_limit) or 100 that did nothing, such
// as NOOP, RSET or VRFY (smtpd_junk_command_limit), without a message
// accepted, the server answers 421 4.7.0 and closes. A connection logs
// its first five refusals and one line with the rest when it closes;
// refused connections and go-smtp's own errors log at most ten lines a
// minute each, then say how many they left out.
//
// Lines may be up to MaxLineBytes (64 KiB) long, CRLF included: RFC 5322
// says 998 octets, but printers and ERPs send longer lines, Postfix and
// Exchange take them, and Graph takes the message as base64. A message
// with a longer line gets 552 5.3.4 (ErrLineTooLong) once the server has
// read the rest of it (so the client reads the refusal rather than a
// reset, and does not retry), one log line, and the connection closes.
// Accepted long lines reach Submit unchanged; sending them on over SMTP
// needs folding or re-encoding, which is the delivery side's job.
//
// Password checks are slow and, with argon2id, take 64 MiB each: at most
// two run at once, server-wide, and an AUTH that finds no free slot within
// 5 s gets 454 4.7.0 (and counts as a failure for the delays). A user
// name that does not exist is checked against a dummy hash with the
// parameters of the accounts' hashes, so it takes as long as a wrong
// password and user names cannot be guessed by timing the replies.
//
// # What passes through
//
// Every RCPT TO address is kept in Envelope.To, including recipients that
// appear in no header (Bcc); the delivery side must add them. The message
// bytes are not touched: headers, Reply-To, character sets, 8-bit text and
// quoted-printable bodies reach Submit exactly as the client sent them
// (only the SMTP dot-stuffing is undone).
//
// # Behind a load balancer
//
// With ProxyProtocol, every connection must begin with a PROXY protocol v1
// or v2 header (HAProxy's send-proxy, send-proxy-v2) from a peer in
// ProxyTrustedNets, within CommandTimeout and at most 10 s; anything else
// is closed before the greeting, with a log line (at most ten a minute,
// shared with the other refused connections). The header is read to its
// last byte and not one more, in a goroutine per connection so a slow peer
// holds up no other, and on the implicit-TLS listener before the
// handshake. The client address it names is the one AllowNets, the
// per-client limits, the log and Envelope.ClientAddr see; a v2 LOCAL or v1
// UNKNOWN header keeps the balancer's address. A header that cannot be
// used is a *ProxyHeaderError in the log.
//
// # Operations
//
// Reload swaps allow-lists, accounts and limits without dropping
// connections (wire it to SIGHUP); Shutdown stops listening and lets
// sessions end. The tests drive the server with go-smtp's client and with
// swaks, python3's smtplib and curl when they are installed
// (.ci/clients/install.sh).
package relay
