package sendmailcompat_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail/sendmailcompat"
)

// Cron's own invocation for a job without MAILTO, delivered to the alias
// of root.
func ExamplePrepare() {
	aliases, err := sendmailcompat.ReadAliases(strings.NewReader("root: ops@contoso.com\n"))
	if err != nil {
		panic(err)
	}
	opts, err := sendmailcompat.ParseArgs([]string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"})
	if err != nil {
		panic(err)
	}
	env, msg, err := sendmailcompat.Prepare([]byte("To: root\nSubject: Cron <root@web1> run-parts\n\nout\n"), opts, sendmailcompat.Defaults{
		From:         "robot@contoso.com",
		Hostname:     "contoso.com",
		Now:          time.Date(2026, 11, 5, 6, 25, 0, 0, time.UTC),
		NewID:        func() string { return "1" },
		Aliases:      aliases,
		LocalDomains: []string{"web1", "web1.contoso.com"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n%s", env, strings.ReplaceAll(string(msg), "\r\n", "\n"))
	// Output:
	// {From:robot@contoso.com To:[ops@contoso.com]}
	// To: ops@contoso.com
	// Subject: Cron <root@web1> run-parts
	// From: "CronDaemon" <robot@contoso.com>
	// Date: Thu, 05 Nov 2026 06:25:00 +0000
	// Message-ID: <1@contoso.com>
	//
	// out
}

func ExampleAliases_Resolve() {
	aliases, err := sendmailcompat.ReadAliases(strings.NewReader(`# /etc/aliases
postmaster: root
root: ops@contoso.com, |/usr/bin/logger
default: it@contoso.com
`))
	if err != nil {
		panic(err)
	}
	aliases.LocalDomains = []string{"web1"}
	for _, w := range aliases.Warnings {
		fmt.Println("warning:", w)
	}
	for _, addr := range []string{"postmaster", "www-data@web1", "someone@example.com"} {
		to, err := aliases.Resolve(addr)
		fmt.Println(addr, to, err)
	}
	// Output:
	// warning: line 3: alias "root": target "|/usr/bin/logger" skipped: commands are not supported
	// postmaster [ops@contoso.com] <nil>
	// www-data@web1 [it@contoso.com] <nil>
	// someone@example.com [someone@example.com] <nil>
}
