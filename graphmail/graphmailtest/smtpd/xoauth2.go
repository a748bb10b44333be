package smtpd

import (
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Replies to AUTH, worded like Exchange Online's.
var (
	errMustStartTLS = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	errAuthFailed   = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful"}
	errAuthDisabled = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."}
	errUnknownMech  = &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 7, 4}, Message: "Unrecognized authentication type"}
)

// xoauth2Server is a sasl.Server for XOAUTH2. With no initial response it
// prompts with an empty 334; the single response must be
// "user=<mailbox>\x01auth=Bearer <token>\x01\x01". Any failure is reported
// as a 535 right away (Exchange does not send Gmail's JSON challenge).
type xoauth2Server struct {
	authenticate func(user, token string) error
	prompted     bool
}

var _ sasl.Server = (*xoauth2Server)(nil)

func (a *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if response == nil {
		if a.prompted {
			return nil, false, errAuthFailed
		}
		a.prompted = true
		return []byte{}, false, nil
	}
	user, token, err := parseXOAUTH2(response)
	if err != nil {
		return nil, false, errAuthFailed
	}
	if err := a.authenticate(user, token); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

var errMalformed = errors.New("malformed XOAUTH2 response")

// parseXOAUTH2 splits "user=U\x01auth=Bearer T\x01\x01".
func parseXOAUTH2(resp []byte) (user, token string, err error) {
	s, ok := strings.CutSuffix(string(resp), "\x01\x01")
	if !ok {
		return "", "", errMalformed
	}
	var haveUser, haveAuth bool
	for _, kv := range strings.Split(s, "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", "", errMalformed
		}
		switch k {
		case "user":
			if haveUser {
				return "", "", errMalformed
			}
			user, haveUser = v, true
		case "auth":
			if haveAuth {
				return "", "", errMalformed
			}
			scheme, t, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return "", "", errMalformed
			}
			token, haveAuth = t, true
		default:
			return "", "", errMalformed
		}
	}
	if !haveUser || !haveAuth || user == "" || token == "" {
		return "", "", errMalformed
	}
	return user, token, nil
}
