package setup

import (
	"context"
	"errors"
)

// errDryRun is what the dry run's stand-in fallback answers: it is there
// for Client.Plan to see that a fallback would be configured, never to send.
var errDryRun = errors.New("setup: dry run: nothing is sent")

// dryRunFallback stands in for the SMTP fallback in a dry run, which
// builds no token provider and dials nothing.
type dryRunFallback struct{}

// Send implements graphmail.Fallback and sends nothing.
func (dryRunFallback) Send(context.Context, string, []string, []byte) (string, error) {
	return "", errDryRun
}
