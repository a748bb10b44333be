// Package rfc5322 reads and edits the header section of Internet messages
// (RFC 5322) without rewriting anything else. It is the one header parser
// of graphmail: the SMTP relay's sender check, the spool, the sendmail
// drop-in and the raw MIME send path all read a message through Parse, so
// that what is checked is what is delivered.
//
// Parse is lenient where mail software in the field is (bare LF line
// endings, 8-bit text, whitespace before the colon of a field name, the
// obsolete syntax of RFC 5322 section 4.5.3) and reports what a strict
// reader would refuse as Defects (a bare CR, a NUL byte, a line that is not
// a field), so that each caller decides what it accepts. Field values are
// unfolded: a line break followed by white space is removed.
//
// AddBcc and EnsureMessageID edit a message by inserting bytes into its
// header; every other byte is kept. NewMessageID makes the Message-ID that
// every graphmail path gives a message that has none.
//
// The package uses the standard library only, so that every package under
// graphmail/ may import it.
package rfc5322
