package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestSendSizeRouting sends a 5 MB attachment through each branch of the
// size decision, end to end through the CLI.
func TestSendSizeRouting(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	data := make([]byte, 5<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		set       []string
		readWrite bool
		exit      int
		stdout    string
		stderr    []string
		transport string
	}{
		{name: "upload session", set: []string{"large_messages=upload_session"}, readWrite: true, exit: 0,
			stdout: "via Microsoft Graph (draft with upload session)", transport: graphmailtest.TransportGraphDraft},
		{name: "upload session without Mail.ReadWrite", set: []string{"large_messages=upload_session", "smtp.fallback=never"}, exit: exitNoPerm,
			stderr: []string{"ErrorAccessDenied", "hint: large_messages: upload_session needs the Mail.ReadWrite"}},
		{name: "SMTP fallback", exit: 0, stdout: "via SMTP fallback (message too large for graph", transport: graphmailtest.TransportSMTP},
		{name: "no fallback", set: []string{"smtp.fallback=never"}, exit: exitDataErr,
			stderr: []string{"over Graph's 4 MB request limit", "hint: set large_messages: upload_session", "smtp.max_message_size"}},
		{name: "over smtp.max_message_size", set: []string{"smtp.max_message_size=4MB"}, exit: exitDataErr,
			stderr: []string{"over the fallback's 4.0 MB", "hint: set large_messages: upload_session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := graphmailtest.NewServer(graphmailtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if tt.readWrite {
				srv.SetRoles(srv.App().ClientID, []string{"Mail.Send", "Mail.ReadWrite", "SMTP.SendAsApp"})
			}
			cfgFile := sandboxConfig(t, srv, map[string]any{"token_cache.path": "none", "retry.max_elapsed": "1s"})
			args := []string{"send", "--config", cfgFile, "--to", "a@example.com", "--subject", "big", "--body", "see attachment", "--attach", big, "--quiet", "-v"}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			var stdout, stderr syncBuffer
			code := runEnv(context.Background(), args, testEnv(&stdout, &stderr))
			if code != tt.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.exit, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			msgs := srv.Messages()
			if tt.transport == "" {
				if len(msgs) != 0 {
					t.Errorf("delivered %d messages, want none", len(msgs))
				}
				return
			}
			if len(msgs) != 1 || msgs[0].Transport != tt.transport {
				t.Fatalf("delivered %+v, want one via %s", msgs, tt.transport)
			}
			if !strings.Contains(string(msgs[0].MIME), "big.bin") || len(msgs[0].MIME) < len(data) {
				t.Errorf("delivered message lacks the attachment (%d bytes)", len(msgs[0].MIME))
			}
		})
	}
}

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		sent, total int64
		want        string
	}{
		{0, 100 << 20, "graphmail: uploading f.zip [>         ]   0% 0.0/100.0 MB"},
		{50 << 20, 100 << 20, "graphmail: uploading f.zip [=====>    ]  50% 50.0/100.0 MB"},
		{100 << 20, 100 << 20, "graphmail: uploading f.zip [==========] 100% 100.0/100.0 MB"},
	}
	for _, tt := range tests {
		if got := renderProgress("f.zip", tt.sent, tt.total, 10); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}
