package daemon

import (
	"errors"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
)

func TestDisposition(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		temporary bool
	}{
		{"bad message", &graphmail.MessageError{Field: "To", Problem: "no recipients"}, false},
		{"invalid recipients", &graphmail.GraphError{StatusCode: 400, Code: "ErrorInvalidRecipients"}, false},
		{"From not allowed", &graphmail.GraphError{StatusCode: 403, Code: "ErrorSendAsDenied"}, false},
		{"Mail.Send missing: wait for the admin", &graphmail.GraphError{StatusCode: 403, Code: "ErrorAccessDenied"}, true},
		{"expired secret: wait for the fix", &auth.Error{Code: "AADSTS7000222"}, true},
		{"throttled", &graphmail.GraphError{StatusCode: 429}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tmp interface{ Temporary() bool }
			if !errors.As(Disposition(tt.err), &tmp) || tmp.Temporary() != tt.temporary {
				t.Errorf("Disposition(%v): temporary = %v, want %v", tt.err, tmp != nil && tmp.Temporary(), tt.temporary)
			}
		})
	}
}
