package relay

import "github.com/emersion/go-smtp"

// ConfigError is an Options value New or Reload cannot use.
type ConfigError struct {
	Field, Problem string
}

// Error implements error.
func (e *ConfigError) Error() string { return "relay: " + e.Field + " " + e.Problem }

// Replies the server gives; each is an *smtp.SMTPError.
var (
	// ErrAuthRequired refuses MAIL from a client that is neither
	// authenticated nor in AllowNets: never an open relay.
	ErrAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	// ErrSenderRefused refuses a sender the client may not use.
	ErrSenderRefused = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address not allowed for this client"}
	// ErrEncryptionRequired refuses AUTH before STARTTLS from a client
	// that is not on loopback.
	ErrEncryptionRequired = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism"}
	// ErrAuthBusy is an AUTH that found every password check slot taken
	// for too long: the client should try again later.
	ErrAuthBusy = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	// ErrAuthFailed is a wrong user name or password.
	ErrAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	// ErrTooManyRecipients is the recipient after MaxRecipients.
	ErrTooManyRecipients = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	// ErrTooLarge is a message over MaxMessageBytes.
	ErrTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message size exceeds fixed maximum message size"}
	// ErrLineTooLong is a message with a line longer than MaxLineBytes.
	// The connection closes after it.
	ErrLineTooLong = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message line too long: at most 65536 octets per line"}
	// ErrDataTimeout ends a message that stopped coming for
	// CommandTimeout, or came slower than the minimum data rate; the
	// connection closes.
	ErrDataTimeout = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout exceeded while reading the message, closing connection"}
	// ErrRateLimited is a message beyond MessagesPerMinute.
	ErrRateLimited = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Message rate limit exceeded, try again later"}
	// ErrNotQueued is a Submit failure: the client should retry.
	ErrNotQueued = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Could not queue the message, try again later"}
	// ErrAmbiguousHeader is a message whose header readers may disagree
	// on: a bare CR or NUL in the header, two From or two Sender fields,
	// or white space before the colon of a sender field. Checking one
	// reading and delivering another would bypass the allowed senders.
	ErrAmbiguousHeader = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message header is ambiguous: duplicate or malformed sender field, bare CR or NUL"}
	// ErrBadMessage is a message whose header cannot be read.
	ErrBadMessage = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message header cannot be parsed"}
)
