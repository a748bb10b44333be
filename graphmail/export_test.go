package graphmail

import (
	"context"
	"time"
)

// Hooks for the tests of package graphmail_test, which cannot set the
// unexported fields of Config.

// SetSleep makes the Client of cfg wait with sleep between retries and
// for the message rate.
func SetSleep(cfg *Config, sleep func(context.Context, time.Duration) error) { cfg.sleep = sleep }

// SetMaxInFlight gives the Client of cfg a governor of its own that lets n
// requests per mailbox be in flight.
func SetMaxInFlight(cfg *Config, n int) { cfg.gov = newGovernor(n) }

// SetNow gives the Client of cfg a clock (Retry-After dates are read
// against it).
func SetNow(cfg *Config, now func() time.Time) { cfg.now = now }
