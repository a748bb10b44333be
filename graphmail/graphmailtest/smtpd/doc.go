// Package smtpd is a fake Exchange Online SMTP submission endpoint
// (smtp.office365.com:587) for tests and the sandbox, built on go-smtp's
// server.
//
// It listens on 127.0.0.1, offers STARTTLS with the certificate in
// [Options.TLSConfig], and accepts only AUTH XOAUTH2 over TLS with an
// app-only token for the Outlook resource that carries the SMTP.SendAsApp
// role, for one of [Options.Mailboxes]. It then accepts mail from that
// mailbox only, and keeps what it receives in memory ([Server.Messages]) and
// optionally as .eml files.
//
// # Replies, as Exchange Online gives them
//
//   - AUTH before STARTTLS: 530 5.7.0 Must issue a STARTTLS command first
//   - malformed XOAUTH2, bad or expired token, wrong audience, no
//     SMTP.SendAsApp role, unknown mailbox: 535 5.7.3 Authentication unsuccessful
//   - [Server.DisableAuth]: 535 5.7.139 Authentication unsuccessful,
//     SmtpClientAuthentication is disabled for the Tenant. ...
//   - MAIL before AUTH: 530 5.7.57 Client not authenticated to send mail
//   - MAIL FROM another address: 550 5.7.60 SMTP; Client does not have
//     permissions to send as this sender
//   - more than [Options.MaxConnsPerMailbox] authenticated connections for a
//     mailbox: 432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded
//     (at MAIL FROM)
//   - end of DATA: 250 2.0.0 OK <message-id> [Hostname=FAKE.PROD.OUTLOOK.COM]
//
// [Server.FailNext] injects any other reply at AUTH, MAIL, RCPT or DATA.
//
// # Where go-smtp differs from Exchange
//
// Some replies are written by go-smtp itself before the backend is asked,
// and so differ in wording or code from Exchange Online's: a successful AUTH
// is "235 2.0.0 Authentication succeeded" (Exchange: 235 2.7.0
// Authentication successful), RCPT before MAIL and DATA before RCPT get
// "502 5.5.1" (Exchange: 503 5.5.2), and an unknown command (such as the "*"
// go-smtp's client sends after a failed AUTH) gets "500 5.5.2".
//
// Tokens are checked by [Options.ParseToken] (graphmailtest.Server's
// ParseToken verifies the signature and expiry of the fake identity
// platform's tokens); this package never imports graphmailtest.
package smtpd
