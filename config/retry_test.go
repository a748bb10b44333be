package config

import (
	"errors"
	"testing"
	"time"
)

func TestRetryKeys(t *testing.T) {
	tests := []struct {
		name        string
		env         fakeEnv
		overrides   map[string]any
		attempts    int
		elapsed     time.Duration
		wantErrKey  string
		wantProblem string
	}{
		{name: "defaults", attempts: 4, elapsed: 2 * time.Minute},
		{name: "env", env: fakeEnv{"GRAPHMAIL_RETRY_MAX_ATTEMPTS": "2", "GRAPHMAIL_RETRY_MAX_ELAPSED": "90s"}, attempts: 2, elapsed: 90 * time.Second},
		{name: "flag beats env", env: fakeEnv{"GRAPHMAIL_RETRY_MAX_ATTEMPTS": "2"}, overrides: map[string]any{"retry.max_attempts": 1}, attempts: 1, elapsed: 2 * time.Minute},
		{name: "bad duration", env: fakeEnv{"GRAPHMAIL_RETRY_MAX_ELAPSED": "soon"}, wantErrKey: "retry.max_elapsed", wantProblem: "not a duration"},
		{name: "zero attempts", env: fakeEnv{"GRAPHMAIL_RETRY_MAX_ATTEMPTS": "0"}, wantErrKey: "retry.max_attempts", wantProblem: "must be between 1 and 20"},
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
			if c.Retry.MaxAttempts != tt.attempts || c.Retry.MaxElapsed != tt.elapsed {
				t.Errorf("retry = %+v, want %d %v", c.Retry, tt.attempts, tt.elapsed)
			}
		})
	}
}
