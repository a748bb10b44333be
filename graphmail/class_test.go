package graphmail_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
)

type tempErr bool

func (t tempErr) Error() string   { return "temp" }
func (t tempErr) Temporary() bool { return bool(t) }

type authErr struct{}

func (authErr) Error() string     { return "auth" }
func (authErr) AuthFailure() bool { return true }

type configErr struct{}

func (configErr) Error() string       { return "config" }
func (configErr) ConfigProblem() bool { return true }

type badErr struct{}

func (badErr) Error() string    { return "bad" }
func (badErr) BadMessage() bool { return true }

type usageErr struct{}

func (usageErr) Error() string      { return "usage" }
func (usageErr) UsageProblem() bool { return true }

func TestClassOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want graphmail.Class
	}{
		{"nil", nil, graphmail.None},
		{"plain", errors.New("x"), graphmail.Refused},
		{"temporary", tempErr(true), graphmail.Transient},
		{"permanent", tempErr(false), graphmail.Refused},
		{"permanent wrapping a bad message", fmt.Errorf("w: %w", joinPerm{badErr{}}), graphmail.BadMessage},
		{"auth", fmt.Errorf("w: %w", authErr{}), graphmail.NeedsOperator},
		{"config", configErr{}, graphmail.Misconfigured},
		{"usage", usageErr{}, graphmail.Usage},
		{"bad message", badErr{}, graphmail.BadMessage},
		{"joined: first decides", errors.Join(errors.New("plain"), authErr{}), graphmail.NeedsOperator},
		{"canceled", fmt.Errorf("w: %w", context.Canceled), graphmail.Transient},
		{"deadline inside a permanent error", joinPerm{context.DeadlineExceeded}, graphmail.Transient},
		{"graph 503", &graphmail.GraphError{StatusCode: 503}, graphmail.Transient},
		{"graph 429", &graphmail.GraphError{StatusCode: 429}, graphmail.Transient},
		{"graph no response", &graphmail.GraphError{Err: errors.New("reset")}, graphmail.Transient},
		{"graph 403", &graphmail.GraphError{StatusCode: 403, Code: "ErrorAccessDenied"}, graphmail.NeedsOperator},
		{"graph 401", &graphmail.GraphError{StatusCode: 401}, graphmail.NeedsOperator},
		{"graph send as denied", &graphmail.GraphError{StatusCode: 403, Code: "ErrorSendAsDenied"}, graphmail.BadMessage},
		{"graph invalid user", &graphmail.GraphError{StatusCode: 404, Code: "ErrorInvalidUser"}, graphmail.Misconfigured},
		{"graph rest disabled", &graphmail.GraphError{StatusCode: 404, Code: "MailboxNotEnabledForRESTAPI"}, graphmail.Refused},
		{"graph 400", &graphmail.GraphError{StatusCode: 400, Code: "ErrorInvalidRecipients"}, graphmail.BadMessage},
		{"graph 413", &graphmail.GraphError{StatusCode: 413}, graphmail.BadMessage},
		{"graph 404 other", &graphmail.GraphError{StatusCode: 405}, graphmail.Refused},
		{"message error", &graphmail.MessageError{Field: "To", Problem: "no recipients"}, graphmail.BadMessage},
		{"upload wrapping 403", &graphmail.UploadError{Step: "x", Err: &graphmail.GraphError{StatusCode: 403}}, graphmail.NeedsOperator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := graphmail.ClassOf(tt.err); got != tt.want {
				t.Errorf("ClassOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// joinPerm says "permanent" and wraps something more specific.
type joinPerm struct{ err error }

func (j joinPerm) Error() string   { return "permanent: " + j.err.Error() }
func (j joinPerm) Unwrap() error   { return j.err }
func (j joinPerm) Temporary() bool { return false }

// cyclic unwraps to itself; ClassOf must still return.
type cyclic struct{}

func (c *cyclic) Error() string { return "cyclic" }
func (c *cyclic) Unwrap() error { return c }

func TestClassOfCycle(t *testing.T) {
	if got := graphmail.ClassOf(&cyclic{}); got != graphmail.Refused {
		t.Errorf("ClassOf(cycle) = %v, want refused", got)
	}
}

func TestClassRetry(t *testing.T) {
	for c, want := range map[graphmail.Class]bool{
		graphmail.Transient: true, graphmail.NeedsOperator: true, graphmail.Misconfigured: true,
		graphmail.Refused: true, graphmail.BadMessage: false, graphmail.Usage: false,
	} {
		if c.Retry() != want {
			t.Errorf("%v.Retry() = %v, want %v", c, c.Retry(), want)
		}
	}
}

func ExampleClassOf() {
	err := fmt.Errorf("sending report: %w", &graphmail.GraphError{StatusCode: 503, Code: "ServiceUnavailable"})
	switch graphmail.ClassOf(err) {
	case graphmail.Transient:
		fmt.Println("queue it and try again later")
	case graphmail.BadMessage:
		fmt.Println("bounce it")
	default:
		fmt.Println("hold it for an operator")
	}
	// Output: queue it and try again later
}
