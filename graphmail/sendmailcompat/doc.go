// Package sendmailcompat makes graphmail a drop-in for /usr/sbin/sendmail:
// it parses the command lines that cron, mailx, logwatch, PHP's mail() and
// git use (ParseArgs) and turns the message they pipe in into an envelope
// and a message ready to send (Prepare), filling in the headers sendmail
// would (From, Date, Message-ID) and removing Bcc.
//
// Both are pure functions over their inputs; reading stdin, configuration
// and exit codes (sysexits: UsageError is 64, MessageError 65) belong to
// the command.
package sendmailcompat
