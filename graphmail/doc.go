// Package graphmail sends e-mail through Microsoft 365: Microsoft Graph's
// sendMail, with an optional fallback (normally SMTP with XOAUTH2) for what
// Graph cannot take.
//
// # Sending
//
// New makes a Client from a Config: the sender mailbox, a credential for
// Graph tokens, and the policy between Graph and the Fallback. Send
// delivers a Message; SendMIME delivers an existing RFC 5322 message byte
// for byte. Both return a Result that says which path carried the message,
// with the Graph request IDs to quote to Microsoft support. A Client is
// safe for concurrent use, and the Clients of a process share each
// mailbox's limits (4 requests in flight, Config.MessagesPerMinute).
//
// A message over Graph's 4 MB request limit goes through an upload session
// (Config.LargeMessages) or to the fallback, within
// Config.MaxFallbackBytes.
//
// # Large raw messages
//
// SendEnvelope delivers an RFC 5322 message to its envelope recipients, as
// an MTA does; SendEnvelopeFile does the same for a message read in place
// from an io.ReaderAt (a spool file). With LargeUploadSession, a raw
// message over the limit is cut: the draft is the message without its
// largest attachment parts (its structure and every other byte kept, the
// header rewritten for the envelope), created from MIME; each part taken
// out is added to the draft through an upload session, decoded from
// base64 or quoted-printable a 3.75 MiB chunk at a time, then the draft is
// sent. Streaming from the file, nothing of the message but its header
// and the draft (at most 3 MB) is held in memory, so graphmail serve
// relays a 100 MB scan in well under 64 MiB.
//
// # Rendering
//
// RenderMIME and WriteMIME render a Message as MIME, as the fallback gets
// it; Client.GraphRequest and MIMERequest show what would be posted to
// Graph. Client.Plan and PlanMIME tell, for a dry run, how Send and
// SendMIME would deliver a message — path, requests, SMTP envelope and a
// summary of the attachments — by the same decision Send makes.
//
// # Errors
//
// Errors are typed, for errors.As: *MessageError (the message cannot be
// sent as it is; *TooLargeError wraps one), *GraphError (Graph answered
// with an error, or did not answer), *UploadError (the upload session
// path) and *FallbackError (the fallback failed too). A credential that
// cannot give a token returns its own error (package auth's *auth.Error).
//
// ClassOf puts any of them — and the errors of the leaf packages — into
// one of a few classes (Transient, NeedsOperator, Misconfigured,
// BadMessage, UnknownRecipient, Usage, Refused) that decide retrying,
// holding, dead-lettering and exit codes everywhere. Library errors state
// facts (status, Graph code, AADSTS code); the words that tell a person
// which setting to change are the CLI's.
package graphmail
