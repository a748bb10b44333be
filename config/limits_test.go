package config

import (
	"errors"
	"testing"
)

func TestSizeAndLimitKeys(t *testing.T) {
	tests := []struct {
		name        string
		env         fakeEnv
		overrides   map[string]any
		maxSize     int64
		large       LargeMessages
		perMinute   int
		wantErrKey  string
		wantProblem string
	}{
		{name: "defaults", maxSize: 35 << 20, perMinute: 30},
		{name: "env", env: fakeEnv{"GRAPHMAIL_SMTP_MAX_MESSAGE_SIZE": "150MB", "GRAPHMAIL_LARGE_MESSAGES": "upload_session", "GRAPHMAIL_LIMITS_MESSAGES_PER_MINUTE": "0"},
			maxSize: 150 << 20, large: "upload_session", perMinute: 0},
		{name: "bytes", overrides: map[string]any{"smtp.max_message_size": 2048}, maxSize: 2048, perMinute: 30},
		{name: "KiB with space", overrides: map[string]any{"smtp.max_message_size": "512 KiB"}, maxSize: 512 << 10, perMinute: 30},
		{name: "fraction", overrides: map[string]any{"smtp.max_message_size": "1.5MB"}, maxSize: 3 << 19, perMinute: 30},
		{name: "upper case value", overrides: map[string]any{"large_messages": "Upload_Session"}, maxSize: 35 << 20, large: "upload_session", perMinute: 30},
		{name: "not a size", overrides: map[string]any{"smtp.max_message_size": "big"}, wantErrKey: "smtp.max_message_size", wantProblem: "not a size"},
		{name: "unknown unit", overrides: map[string]any{"smtp.max_message_size": "35 parsecs"}, wantErrKey: "smtp.max_message_size", wantProblem: "not a size"},
		{name: "over 150MB", overrides: map[string]any{"smtp.max_message_size": "200MB"}, wantErrKey: "smtp.max_message_size", wantProblem: "must be between 1KB and 150MB"},
		{name: "bad large_messages", overrides: map[string]any{"large_messages": "chunked"}, wantErrKey: "large_messages", wantProblem: "not empty or upload_session"},
		{name: "negative rate", overrides: map[string]any{"limits.messages_per_minute": -1}, wantErrKey: "limits.messages_per_minute", wantProblem: "must be between 0 and 10000"},
		{name: "rate not a number", env: fakeEnv{"GRAPHMAIL_LIMITS_MESSAGES_PER_MINUTE": "fast"}, wantErrKey: "limits.messages_per_minute", wantProblem: "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(Options{Overrides: tt.overrides}, tt.env)
			if tt.wantErrKey != "" {
				var e *Error
				if !errors.As(err, &e) || e.Key != tt.wantErrKey || e.Problem != tt.wantProblem {
					t.Fatalf("err = %v, want %s: %s", err, tt.wantErrKey, tt.wantProblem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SMTP.MaxMessageSize != tt.maxSize || c.LargeMessages != tt.large || c.Limits.MessagesPerMinute != tt.perMinute {
				t.Errorf("got size %d large %q rate %d, want %d %q %d", c.SMTP.MaxMessageSize, c.LargeMessages, c.Limits.MessagesPerMinute, tt.maxSize, tt.large, tt.perMinute)
			}
		})
	}
}
