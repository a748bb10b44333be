package smtpfallback_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/graphmail/graphmail/smtpfallback"
)

// outlookTokens would wrap MSAL's AcquireTokenByCredential for the scope
// https://outlook.office365.com/.default (WithClaims or a cache bypass when
// forceRefresh is set).
type outlookTokens struct{}

func (outlookTokens) Token(ctx context.Context, forceRefresh bool) (string, error) {
	return os.Getenv("SMTP_ACCESS_TOKEN"), nil
}

func ExampleNew() {
	roots := x509.NewCertPool() // e.g. from ca_file; nil RootCAs means the system roots
	c, err := smtpfallback.New(smtpfallback.Config{
		Host:        "smtp.office365.com",
		Username:    "reports@contoso.com",
		Tokens:      outlookTokens{},
		TLSConfig:   &tls.Config{RootCAs: roots},
		DataTimeout: 2 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleClient_Send() {
	c, err := smtpfallback.New(smtpfallback.Config{
		Host:     "smtp.office365.com",
		Username: "reports@contoso.com",
		Tokens:   outlookTokens{},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	mime := []byte("From: reports@contoso.com\r\nTo: a@fabrikam.example\r\nSubject: Daily report\r\n\r\nAll green.\r\n")
	// The Bcc recipient is only in the envelope, not in the headers.
	env := smtpfallback.Envelope{From: "reports@contoso.com", To: []string{"a@fabrikam.example", "audit@contoso.com"}}

	r, err := c.Send(context.Background(), env, mime)
	var se *smtpfallback.SMTPError
	switch {
	case errors.As(err, &se) && se.AuthDisabled():
		log.Fatal("SMTP AUTH is disabled for the tenant or mailbox: Set-CASMailbox -SmtpClientAuthenticationDisabled $false")
	case smtpfallback.Temporary(err):
		log.Printf("try again later: %v", err)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("accepted:", r.Reply)
	}
}
