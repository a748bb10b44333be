package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/auth"
)

// TestCLILogLevel: a one-shot command logs at warn unless log.level was
// set; --verbose makes it info.
func TestCLILogLevel(t *testing.T) {
	tests := []struct {
		name    string
		level   config.LogLevel
		source  string
		verbose bool
		want    config.LogLevel
	}{
		{"default", config.LogInfo, config.SourceDefault, false, config.LogWarn},
		{"default, verbose", config.LogInfo, config.SourceDefault, true, config.LogInfo},
		{"file says info", config.LogInfo, config.SourceFile, false, config.LogInfo},
		{"flag says error, verbose", config.LogError, config.SourceFlag, true, config.LogError},
		{"env says debug", config.LogDebug, config.SourceEnv, false, config.LogDebug},
	}
	for _, tt := range tests {
		cfg := &config.Config{Log: config.Log{Level: tt.level}, Sources: map[string]string{"log.level": tt.source}}
		env := &environment{verbose: tt.verbose}
		if got := env.cliLog(cfg).Level; got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestFailedSend picks the audit line of a failed message only.
func TestFailedSend(t *testing.T) {
	rec := func(msg string, attrs ...any) slog.Record {
		r := slog.NewRecord(time.Time{}, slog.LevelWarn, msg, 0)
		r.Add(attrs...)
		return r
	}
	tests := []struct {
		r    slog.Record
		want bool
	}{
		{rec("send failed", "message_id", "x", "outcome", "failed", "error", "e"), true},
		{rec("sent", "outcome", "sent"), false},
		{rec("queued: sending failed for now", "outcome", "queued"), false},
		{rec("token cache ignored"), false},
		{rec("odd", "outcome", 1), false},
	}
	for _, tt := range tests {
		if got := failedSend(tt.r); got != tt.want {
			t.Errorf("failedSend(%q) = %t, want %t", tt.r.Message, got, tt.want)
		}
	}
}

// TestReportJSON: with log.format json the final error is one JSON object
// per problem, with the hint.
func TestReportJSON(t *testing.T) {
	now := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	tests := []struct {
		name string
		err  error
		want []errorRecord
	}{
		{"auth", &auth.Error{StatusCode: 401, OAuthError: "invalid_client", Err: errors.New("rejected")},
			[]errorRecord{{Level: "ERROR", Msg: "failed", Command: "graphmail send", ExitCode: 77, Hint: oauthHints["invalid_client"]}}},
		{"config", config.Errors{{Key: "client_id", Problem: "not a GUID", Hint: "copy it"}, {Key: "sender", Problem: "missing"}},
			[]errorRecord{{Level: "ERROR", Msg: "failed", Command: "graphmail send", Key: "client_id", Error: "not a GUID", Hint: "copy it", ExitCode: 78},
				{Level: "ERROR", Msg: "failed", Command: "graphmail send", Key: "sender", Error: "missing", ExitCode: 78}}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		reportJSON(&b, tt.err, "graphmail send", exitCode(tt.err), now)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != len(tt.want) {
			t.Fatalf("%s: %d lines, want %d:\n%s", tt.name, len(lines), len(tt.want), b.String())
		}
		for i, l := range lines {
			var got errorRecord
			if err := json.Unmarshal([]byte(l), &got); err != nil {
				t.Fatalf("%s: line %d is not JSON: %v\n%s", tt.name, i, err, l)
			}
			want := tt.want[i]
			want.Time = "2026-11-30T01:02:03Z"
			if want.Error == "" {
				want.Error = tt.err.Error()
			}
			if got != want {
				t.Errorf("%s: line %d\ngot  %+v\nwant %+v", tt.name, i, got, want)
			}
		}
	}
}
