package setup_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/setup"
)

// TestLogFileRecordsWhatStderrHides: with a quiet standard error (the
// sendmail drop-in), log.file still gets the info line of every message,
// in a file only the owner and group may read.
func TestLogFileRecordsWhatStderrHides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graphmail.log")
	var stderr bytes.Buffer
	warn := slog.LevelWarn
	lg, err := setup.OpenLog(config.Log{Level: config.LogInfo, Format: config.LogText, File: path}, setup.LogOptions{Stderr: &stderr, StderrLevel: &warn})
	if err != nil {
		t.Fatal(err)
	}
	lg.Info("sent", "message_id", "a@b", "outcome", "sent")
	lg.Warn("send failed", "outcome", "failed")
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	if s := stderr.String(); strings.Contains(s, "msg=sent") || !strings.Contains(s, "send failed") {
		t.Errorf("stderr %q: want only the warning", s)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "msg=sent message_id=a@b outcome=sent") || !strings.Contains(string(b), "send failed") {
		t.Errorf("log file %q: want both lines", b)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm()&^0o640 != 0 {
		t.Errorf("log file mode %v, want at most 0640", fi.Mode().Perm())
	}
}

// TestOmitFromStderr: the records OmitFromStderr picks stay off standard
// error, also through a logger with attributes, and still reach log.file.
func TestOmitFromStderr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "graphmail.log")
	var stderr bytes.Buffer
	omit := func(r slog.Record) bool { return r.Message == "send failed" }
	lg, err := setup.OpenLog(config.Log{Level: config.LogWarn, File: path}, setup.LogOptions{Stderr: &stderr, OmitFromStderr: omit})
	if err != nil {
		t.Fatal(err)
	}
	lg.With("component", "x").Warn("send failed", "outcome", "failed")
	lg.WithGroup("g").Warn("token cache ignored")
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	if s := stderr.String(); strings.Contains(s, "send failed") || !strings.Contains(s, "token cache ignored") {
		t.Errorf("stderr %q: want only the other warning", s)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "send failed") {
		t.Errorf("log file %q lacks the omitted record", b)
	}
}

// TestLogFileFollowsRotation: after logrotate renames the file (no
// copytruncate, no signal), the next line goes to a new file at the path;
// Reopen does the same on demand.
func TestLogFileFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "graphmail.log")
	lg, err := setup.OpenLog(config.Log{File: path}, setup.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	lg.Info("one")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	lg.Info("two")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := lg.Reopen(); err != nil {
		t.Fatal(err)
	}
	lg.Info("three")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "msg=one") || strings.Contains(string(old), "msg=two") {
		t.Errorf("rotated file %q: want only the first line", old)
	}
	if !strings.Contains(string(cur), "msg=three") {
		t.Errorf("current file %q: want the line after Reopen", cur)
	}
}

// TestLogFileErrorNamesTheKey: an unwritable log.file is a configuration
// error on log.file.
func TestLogFileErrorNamesTheKey(t *testing.T) {
	_, err := setup.OpenLog(config.Log{File: t.TempDir()}, setup.LogOptions{})
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "log.file" {
		t.Fatalf("OpenLog(directory) = %v, want a config error on log.file", err)
	}
}

// TestSyslogMail: log.syslog sends each record to the syslog socket with
// facility mail and the record's severity, tag graphmail, without a time.
func TestSyslogMail(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lg, err := setup.OpenLog(config.Log{Syslog: true}, setup.LogOptions{SyslogNetwork: "unixgram", SyslogAddr: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	lg.Info("queued", "message_id", "x@y")
	lg.Warn("deferred")
	for _, want := range []string{"<22>", "<20>"} { // mail(2)*8 + info(6) / warning(4)
		buf := make([]byte, 2048)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "graphmail[") || strings.Contains(msg, "time=") {
			t.Errorf("syslog datagram %q: want priority %s, tag graphmail, no time= attribute", msg, want)
		}
	}
}
