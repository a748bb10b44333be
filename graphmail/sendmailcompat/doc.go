// Package sendmailcompat makes graphmail a drop-in for /usr/sbin/sendmail:
// it parses the command lines that cron, mailx, logwatch, PHP's mail() and
// git use (ParseArgs) and turns the message they pipe in into an envelope
// and a message ready to send (Prepare), filling in the headers sendmail
// would (From, Date, Message-ID) and removing Bcc.
//
// # Local names and aliases
//
// Programs on a server address mail to local names: cron to root,
// PHP to www-data, scripts to root@localhost or root@<host name>. Graph
// and the SMTP fallback deliver only to mailbox addresses, so Prepare
// resolves every local recipient through an aliases(5) file (ReadAliases,
// LoadAliases; /etc/aliases and msmtp's aliases files work as they are),
// on the command line and in the To, Cc and Bcc headers, which Graph
// delivers to (RewriteHeaders). The entry named default catches every
// local name without an entry of its own. A local name that resolves to
// nothing is an *UnknownRecipientError, never a silent drop.
//
// # Errors
//
// Reading stdin, configuration and exit codes belong to the command. The
// errors carry the methods graphmail.ClassOf reads: *UsageError
// (UsageProblem, exit 64 EX_USAGE), *MessageError (BadMessage, 65
// EX_DATAERR), *UnknownRecipientError (UnknownRecipient, 67 EX_NOUSER)
// and *AliasError (ConfigProblem, 78 EX_CONFIG: an aliases file that
// cannot be read, or an alias that loops or expands too far).
//
// All functions are pure over their inputs but LoadAliases, which reads a
// file.
package sendmailcompat
