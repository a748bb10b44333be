package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rogpeppe/go-internal/testscript"
)

// daemonCmds are the testscript commands for the daemon scripts.
var daemonCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"freeport": cmdFreePort,
	"waitport": cmdWaitPort,
	"smtpsend": cmdSMTPSend,
	"httpget":  cmdHTTPGet,
}

// cmdFreePort sets an environment variable to a free TCP port on 127.0.0.1.
//
//	freeport NAME
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdWaitPort waits up to 20 s until ADDR accepts connections.
//
//	waitport ADDR
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitport ADDR")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", args[0], time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("nothing listens on %s", args[0])
}

// cmdSMTPSend submits FILE over plain SMTP (no AUTH), as a legacy app would.
// Its reply (or error) goes to stdout (stderr).
//
//	smtpsend ADDR FROM FILE RCPT...
func cmdSMTPSend(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 {
		ts.Fatalf("usage: smtpsend ADDR FROM FILE RCPT...")
	}
	data, err := os.ReadFile(ts.MkAbs(args[2]))
	ts.Check(err)
	data = []byte(strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n", "\r\n"))
	err = plainSend(args[0], args[1], args[3:], data)
	if err != nil {
		_, _ = ts.Stderr().Write([]byte(err.Error() + "\n"))
		if !neg {
			ts.Fatalf("smtpsend: %v", err)
		}
		return
	}
	if neg {
		ts.Fatalf("smtpsend succeeded unexpectedly")
	}
	_, _ = ts.Stdout().Write([]byte("250 accepted\n"))
}

// cmdHTTPGet fetches URL and writes the body to stdout; with ! it expects a
// status other than 200.
//
//	httpget URL
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: httpget URL")
	}
	resp, err := http.Get(args[0])
	ts.Check(err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, _ = ts.Stdout().Write(b)
	if (resp.StatusCode == http.StatusOK) == neg {
		ts.Fatalf("GET %s: %d", args[0], resp.StatusCode)
	}
}

// plainSend is an SMTP submission without TLS or AUTH, as a printer or a
// legacy app on the same host makes it.
func plainSend(addr, from string, to []string, data []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("legacy-app.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
