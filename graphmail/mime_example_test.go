package graphmail_test

import (
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail"
)

func ExampleRenderMIME() {
	m := &graphmail.Message{
		From:      graphmail.Address{Name: "Reports Robot", Address: "reports@contoso.com"},
		To:        []graphmail.Address{{Name: "José Müller", Address: "jose@example.com"}},
		Bcc:       []graphmail.Address{{Address: "archive@contoso.com"}},
		Subject:   "Weekly report",
		Text:      "Hello José,\nthe weekly report is ready.\n",
		MessageID: "weekly-2025-11@contoso.com",                  // empty: a new one is generated
		Date:      time.Date(2025, 11, 24, 9, 0, 0, 0, time.UTC), // zero: the time of rendering
	}
	raw, err := graphmail.RenderMIME(m, graphmail.MIMEOptions{})
	if err != nil {
		log.Fatal(err)
	}
	// The output uses CRLF line endings; the Bcc recipient is not in it.
	fmt.Print(strings.ReplaceAll(string(raw), "\r\n", "\n"))
	// Output:
	// From: "Reports Robot" <reports@contoso.com>
	// To: =?utf-8?b?Sm9zw6kgTcO8bGxlcg==?= <jose@example.com>
	// Subject: Weekly report
	// Date: Mon, 24 Nov 2025 09:00:00 +0000
	// Message-ID: <weekly-2025-11@contoso.com>
	// MIME-Version: 1.0
	// Content-Type: text/plain; charset=utf-8
	// Content-Transfer-Encoding: quoted-printable
	//
	// Hello Jos=C3=A9,
	// the weekly report is ready.
}
