package smtpfallback

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// XOAUTH2 is the SASL mechanism name used by Exchange Online and Gmail.
const XOAUTH2 = "XOAUTH2"

var errUnexpectedChallenge = errors.New("smtpfallback: unexpected XOAUTH2 challenge")

// xoauth2Client is a sasl.Client for XOAUTH2. go-sasl only has OAUTHBEARER
// (RFC 7628), which frames the token differently.
//
// It sends no initial response, so go-smtp writes a bare "AUTH XOAUTH2" and
// the credentials follow the server's 334 prompt: the line stays short
// (RFC 4954 §4) and no server sees a multi-kilobyte AUTH line.
type xoauth2Client struct {
	user, token string
	step        int
}

var _ sasl.Client = (*xoauth2Client)(nil)

// Start returns the mechanism and a nil initial response.
func (a *xoauth2Client) Start() (string, []byte, error) {
	return XOAUTH2, nil, nil
}

// Next answers the first challenge (normally an empty 334) with the
// credentials, and a second one (an error report, base64 JSON in Gmail's
// case) with an empty response so that the server completes with 535.
func (a *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	a.step++
	switch a.step {
	case 1:
		return xoauth2Response(a.user, a.token), nil
	case 2:
		// Non-nil and empty: go-smtp sends an empty line. A nil slice would
		// make it stop without reading the server's final reply.
		return []byte{}, nil
	default:
		return nil, errUnexpectedChallenge
	}
}

// String keeps the token out of any accidental print.
func (a *xoauth2Client) String() string { return "xoauth2{user=" + a.user + " token=[REDACTED]}" }

// GoString keeps the token out of %#v.
func (a *xoauth2Client) GoString() string { return a.String() }

// xoauth2Response is the SASL string, before base64:
// "user=<mailbox>\x01auth=Bearer <token>\x01\x01".
func xoauth2Response(user, token string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}
