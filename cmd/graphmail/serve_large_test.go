package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// maxServeRSS is the peak resident memory graphmail serve may reach while
// it relays a 100 MB scan through an upload session (the README's figure).
const maxServeRSS = 64 << 20

// TestServeLargeScan runs graphmail serve as a process of its own, relays
// a scan over SMTP whose PDF is too large for one Graph request, and
// checks that it arrives through an upload session with identical bytes
// and that the daemon's peak resident memory (VmHWM) stayed under
// maxServeRSS: the message is streamed from the SMTP connection to the
// spool file and from the file to Graph, never held whole. It measures
// memory, not time. The 100 MB case is skipped with -short.
func TestServeLargeScan(t *testing.T) {
	for _, tt := range []struct {
		name string
		mime int // the message's size, about
		long bool
	}{
		{"20MB", 20 << 20, false},
		{"100MB", 100 << 20, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.long && testing.Short() {
				t.Skip("relays 100 MB")
			}
			relayLargeScan(t, tt.mime)
		})
	}
}

func relayLargeScan(t *testing.T, size int) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the daemon's peak memory")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetRoles(srv.App().ClientID, []string{"Mail.Send", "Mail.ReadWrite"})

	dir := t.TempDir()
	smtpAddr := freeAddr(t)
	config := filepath.Join(dir, "graphmail.yaml")
	if err := writeSandboxFiles(srv, config, map[string]any{
		"large_messages":         "upload_session",
		"smtp.fallback":          "never",
		"token_cache.path":       "none",
		"serve.listen":           smtpAddr,
		"serve.max_message_size": "150MB",
		"spool.dir":              filepath.Join(dir, "spool"),
		"log.level":              "warn",
	}); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--config", config)
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "daemon.log")); err == nil {
				t.Logf("daemon log (tail):\n%s", tail(string(b), 3000))
			}
		}
	}()
	waitListening(t, smtpAddr)

	from := srv.Mailboxes()[0]
	pdf := scanPDF(size * 3 / 4)
	msg := largeScan(from, pdf)
	if err := plainSend(smtpAddr, from, []string{"ops@example.com", "archive@example.com"}, msg); err != nil {
		t.Fatalf("relaying %d bytes: %v", len(msg), err)
	}
	msg = nil
	// Delivery has no other signal than the sandbox's record of it; the
	// deadline only bounds a hang.
	deadline := time.Now().Add(10 * time.Minute)
	for len(srv.Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the scan was never delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	hwm, err := vmHWM(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	d := srv.Messages()[0]
	if d.Transport != graphmailtest.TransportGraphDraft || len(d.Attachments) != 1 {
		t.Fatalf("delivered as %s with %d attachments, want a draft with the PDF", d.Transport, len(d.Attachments))
	}
	a := d.Attachments[0]
	if a.Name != "scan0001.pdf" || sha256.Sum256(a.ContentBytes) != sha256.Sum256(pdf) {
		t.Errorf("attachment %q, %d bytes, identical=%v; want scan0001.pdf, %d bytes", a.Name, len(a.ContentBytes), sha256.Sum256(a.ContentBytes) == sha256.Sum256(pdf), len(pdf))
	}
	if !strings.Contains(strings.Join(d.Recipients, ","), "archive@example.com") {
		t.Errorf("recipients %v: the envelope-only recipient is missing", d.Recipients)
	}
	t.Logf("relayed a %.1f MB message (%.1f MB PDF); graphmail serve peak RSS %.1f MiB", float64(size)/(1<<20), float64(len(pdf))/(1<<20), float64(hwm)/(1<<20))
	if hwm >= maxServeRSS {
		t.Errorf("graphmail serve peaked at %.1f MiB resident, want under %d MiB", float64(hwm)/(1<<20), maxServeRSS>>20)
	}
}

// waitListening waits until addr accepts a connection; the deadline only
// bounds a hang.
func waitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted a connection: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scanPDF returns n bytes that look like a PDF and do not compress.
func scanPDF(n int) []byte {
	b := make([]byte, n)
	copy(b, "%PDF-1.7\n")
	x := uint64(88172645463325252)
	for i := 9; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// largeScan is a scanner's message: a short text body and the PDF in
// base64 with 76-character lines.
func largeScan(from string, pdf []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(pdf)*4/3 + len(pdf)/38 + 1024)
	fmt.Fprintf(&b, "From: Scanner <%s>\r\nTo: ops@example.com\r\nSubject: Scanned document\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"scan-boundary\"\r\n\r\n--scan-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"+
		"Please find the scanned document attached.\r\n--scan-boundary\r\nContent-Type: application/pdf; name=\"scan0001.pdf\"\r\n"+
		"Content-Disposition: attachment; filename=\"scan0001.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", from)
	line := make([]byte, 76)
	for i := 0; i < len(pdf); i += 57 {
		n := base64.StdEncoding.EncodeToString(pdf[i:min(i+57, len(pdf))])
		b.Write(append(line[:0], n...))
		b.WriteString("\r\n")
	}
	b.WriteString("--scan-boundary--\r\n")
	return b.Bytes()
}

// vmHWM reads a process's peak resident set size from /proc.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
