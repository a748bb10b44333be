package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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
	"waithttp": cmdWaitHTTP,
	"waitfile": cmdWaitFile,
	"smtpsend": cmdSMTPSend,
	"httpget":  cmdHTTPGet,
}

// hangBound bounds the scripts' waits for a daemon. It is far beyond what
// a loaded machine needs: it only turns a hang into a failure, and no
// script relies on anything happening within a time.
const hangBound = 2 * time.Minute

// fataler is a script or a test.
type fataler interface {
	Fatalf(format string, args ...any)
}

// poll waits until cond holds, failing the script or test with what() if
// it still does not after hangBound. cond gets the deadline, to bound a
// blocking check with.
func poll(f fataler, what func() string, cond func(deadline time.Time) bool) {
	if h, ok := f.(interface{ Helper() }); ok {
		h.Helper()
	}
	deadline := time.Now().Add(hangBound)
	for !cond(deadline) {
		if time.Now().After(deadline) {
			f.Fatalf("%s (waited %s)", what(), hangBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// cmdWaitPort waits until every ADDR accepts connections: a daemon that
// opens several listeners is ready for a script once each of them is.
//
//	waitport ADDR...
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: waitport ADDR...")
	}
	for _, addr := range args {
		poll(ts, func() string { return "nothing listens on " + addr }, func(deadline time.Time) bool {
			c, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", addr)
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
	}
}

// cmdWaitHTTP waits until GET URL answers 200 with a body REGEXP matches
// (^ and $ match at line breaks), for example until a daemon's metrics
// count what the script did.
//
//	waithttp URL REGEXP
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waithttp URL REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	var last string
	what := func() string { return fmt.Sprintf("GET %s never matched %q; last answer:\n%s", args[0], args[1], last) }
	poll(ts, what, func(deadline time.Time) bool {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
		ts.Check(err)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		last = resp.Status + "\n" + string(b)
		return resp.StatusCode == http.StatusOK && re.Match(b)
	})
}

// cmdWaitFile waits until a file matches GLOB (relative to $WORK), for
// example until a daemon moved a message into a spool directory.
//
//	waitfile GLOB
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile GLOB")
	}
	pattern := ts.MkAbs(args[0])
	poll(ts, func() string { return "no file matches " + args[0] }, func(time.Time) bool {
		m, err := filepath.Glob(pattern)
		ts.Check(err)
		return len(m) > 0
	})
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
