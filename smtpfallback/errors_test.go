package smtpfallback

import (
	"context"
	"errors"
	"net/textproto"
	"os"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestWrapErr(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		want      string
		temporary bool
	}{
		{"smtp 4xx", context.Background(), &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 500}, Message: "Server busy"}, "smtpfallback: 451 4.7.500 Server busy (mail)", true},
		{"smtp 5xx", context.Background(), &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 60}, Message: "nope"}, "smtpfallback: 550 5.7.60 nope (mail)", false},
		{"no enhanced code", context.Background(), &smtp.SMTPError{Code: 554, Message: "no"}, "smtpfallback: 554 no (mail)", false},
		{"textproto", context.Background(), &textproto.Error{Code: 421, Msg: "4.3.2 Service not available\n4.3.2 closing"}, "smtpfallback: 421 4.3.2 Service not available closing (mail)", true},
		{"timeout", context.Background(), os.ErrDeadlineExceeded, "smtpfallback: mail: i/o timeout", true},
		{"context wins", cancelled, os.ErrDeadlineExceeded, "smtpfallback: mail: context canceled", true},
	}
	for _, tt := range tests {
		err := wrapErr(tt.ctx, StageMail, tt.err)
		if err.Error() != tt.want || Temporary(err) != tt.temporary {
			t.Errorf("%s: got %q (temporary %v), want %q (temporary %v)", tt.name, err, Temporary(err), tt.want, tt.temporary)
		}
	}
	if err := wrapErr(cancelled, StageMail, errors.New("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(context.Canceled) = false for %v", err)
	}
}

func TestHasExtension(t *testing.T) {
	ehlo := "fake.test Hello\nPIPELINING\nstarttls\nAUTH LOGIN XOAUTH2"
	for ext, want := range map[string]bool{"STARTTLS": true, "AUTH": true, "PIPELINING": true, "SIZE": false, "fake.test": false} {
		if got := hasExtension(ehlo, ext); got != want {
			t.Errorf("hasExtension(%q) = %v, want %v", ext, got, want)
		}
	}
}

func FuzzFromTextproto(f *testing.F) {
	f.Add(535, "5.7.3 Authentication unsuccessful")
	f.Add(250, "x.y.z\n")
	f.Fuzz(func(t *testing.T, code int, msg string) {
		e := fromTextproto(&textproto.Error{Code: code, Msg: msg}, StageAuth)
		_ = e.Error()
	})
}
